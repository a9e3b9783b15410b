"""asyncssh side of `deno task bench`: per-call latency of conn.run('/bin/true') and throughput.

Usage: bench_asyncssh.py HOST PORT USER KEY KNOWN_HOSTS CALLS CONCURRENCY
Prints one JSON object: {"perCallMs", "perSecond", "failures"}.
Concurrency is capped at 9 channels (sshd's MaxSessions defaults to 10); past that asyncssh
fails with "Session request failed".
"""
import asyncio
import json
import statistics
import sys
import time

import asyncssh


async def main() -> None:
    host, port, user, key, known, calls, concurrency = sys.argv[1:8]
    calls, concurrency = int(calls), int(concurrency)
    async with asyncssh.connect(host, port=int(port), username=user, client_keys=[key],
                                known_hosts=known) as conn:
        for _ in range(20):
            await conn.run("/bin/true", check=True)
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            await conn.run("/bin/true", check=True)
            times.append((time.perf_counter() - t) * 1000)
        sem = asyncio.Semaphore(min(concurrency, 9))
        failures = 0
        total = calls * 6

        async def one() -> None:
            nonlocal failures
            async with sem:
                try:
                    r = await conn.run("/bin/true")
                    if r.exit_status != 0:
                        failures += 1
                except (asyncssh.Error, OSError):
                    failures += 1

        t = time.perf_counter()
        pending = [one() for _ in range(total)]
        # Keep `concurrency` callers in flight, like the yonder side.
        for i in range(0, total, concurrency):
            await asyncio.gather(*pending[i:i + concurrency])
        per_second = total / (time.perf_counter() - t)
    print(json.dumps({"perCallMs": statistics.median(times), "perSecond": per_second,
                      "failures": failures}))


asyncio.run(main())
