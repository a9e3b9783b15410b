/**
 * Small async helpers every layer shares: a bounded wait, a sleep that an abort ends, a promise
 * with its resolver, and the grace period between TERM and KILL.
 */

/** How long a stopped command gets between TERM and KILL. */
export const KILL_GRACE_MS = 2000;

/** Resolves to the promise's value, or to null after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<null>((r) => {
        timer = setTimeout(() => r(null), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits `ms`; an abort of `signal` ends the wait early (it resolves, it does not throw). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A promise and the functions that settle it. */
export interface Deferred<T> {
  /** The promise. */
  promise: Promise<T>;
  /** Fulfils it. */
  resolve: (value: T) => void;
}

/** Makes a {@linkcode Deferred}. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when `signal` aborts (never, if it does not). */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }));
}

/**
 * `p`, or a rejection with the signal's reason as soon as `signal` aborts. A `p` given up on is
 * still handled: its late rejection (a write into a pipe whose reader is gone) is nobody's error.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const stop = () => reject(signal.reason);
    signal.addEventListener("abort", stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
  });
}

/** A counting semaphore: at most `size` holders at once, the rest wait in order. */
export class Semaphore {
  #free: number;
  #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Slots free right now. */
  get free(): number {
    return this.#free;
  }

  /** Takes a slot if one is free now (and nobody waits); else null. */
  tryAcquire(): (() => void) | null {
    if (this.#free <= 0 || this.#waiters.length > 0) return null;
    this.#free--;
    return this.#releaser();
  }

  /**
   * Waits for a slot and returns the function that gives it back; null if `signal` aborted first
   * (no slot is held then).
   */
  acquire(): Promise<() => void>;
  acquire(signal: AbortSignal | undefined): Promise<(() => void) | null>;
  async acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return null;
    if (this.#free > 0) {
      this.#free--;
      return this.#releaser();
    }
    const got = await new Promise<boolean>((resolve) => {
      const waiter = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(false);
      };
      this.#waiters.push(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    return got ? this.#releaser() : null;
  }

  /** The function that gives a slot back (once): to the next waiter, else to the pool. */
  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

/**
 * Changes in a directory, as a wait: `next(ms)` resolves on the next change (or one already seen
 * since the last call) or after `ms`. Null where the platform cannot watch.
 */
export function watchDir(path: string): { next(ms: number): Promise<void>; close(): void } | null {
  let watcher: Deno.FsWatcher;
  try {
    watcher = Deno.watchFs(path, { recursive: false });
  } catch {
    return null;
  }
  let seen = false;
  let wake = null as (() => void) | null;
  (async () => {
    try {
      for await (const _ of watcher) {
        seen = true;
        wake?.();
      }
    } catch {
      // Closed.
    }
  })();
  return {
    next(ms: number): Promise<void> {
      if (seen) {
        seen = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = null;
          seen = false;
          resolve();
        }
        wake = done;
      });
    },
    close() {
      try {
        watcher.close();
      } catch {
        // Already closed.
      }
      wake?.();
    },
  };
}
