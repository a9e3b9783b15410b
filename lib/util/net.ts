/**
 * Free TCP ports, as the kernel picks them: listen on port 0, read the port, let go. Another
 * process may take one before the caller binds it; callers that can, ask again.
 *
 * @module
 */

/**
 * `n` distinct free ports on `hostname` (held together while picked, so none repeats).
 *
 * @example
 * ```ts
 * import { freeTcpPorts } from "./net.ts";
 * const [port] = freeTcpPorts(1);
 * console.log(port);
 * ```
 */
export function freeTcpPorts(n: number, hostname = "127.0.0.1"): number[] {
  const listeners = Array.from({ length: n }, () => Deno.listen({ hostname, port: 0 }));
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}
