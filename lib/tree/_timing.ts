/** Adds up the time spent waiting on the remote, for the `remoteMs` of push and pull results. */

/** A stopwatch that sums the time of the promises passed through `timed`. */
export interface RemoteTimer {
  /** Awaits `p`, adding the wait to the total. */
  timed<T>(p: Promise<T>): Promise<T>;
  /** The total so far, in milliseconds. */
  readonly ms: number;
}

/** Creates a {@linkcode RemoteTimer} at zero. */
export function remoteTimer(): RemoteTimer {
  let ms = 0;
  return {
    async timed<T>(p: Promise<T>): Promise<T> {
      const t0 = performance.now();
      try {
        return await p;
      } finally {
        ms += performance.now() - t0;
      }
    },
    get ms() {
      return ms;
    },
  };
}
