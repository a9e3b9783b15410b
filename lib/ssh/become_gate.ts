/**
 * The client side of a password-fed sudo: until the other user's shell says it got through (its
 * marker on stderr), the call's stderr is sudo's. A prompt (the call's nonce prompt, or a prompt
 * that ends in "password:" from a sudo that ignores `-p`, like sudo-rs) gets the password, once;
 * a second prompt means it was wrong. The password goes only to ssh's stdin, after a prompt.
 *
 * @module
 */

import { type BecomeHop, becomeMarker, becomePrompt } from "../posix/first_hop.ts";
import { BecomeError, becomeFailure } from "./become.ts";

const enc = new TextEncoder();

/** How long sudo may take to ask or to let the shell through. */
export const BECOME_GATE_MS = 15_000;

/** One call's gate. */
export class BecomeGate {
  readonly #become: BecomeHop;
  readonly #marker: string;
  readonly #prompt: string;
  readonly #send: (bytes: Uint8Array) => Promise<void>;
  #text = "";
  readonly #dec = new TextDecoder();
  #prompts = 0;
  /** How much of the text was seen when the last prompt was answered. */
  #seen = 0;
  #settled = false;
  #resolve!: () => void;
  #reject!: (e: unknown) => void;
  /** Resolves once the other shell runs; rejects with a {@linkcode BecomeError}. */
  readonly open: Promise<void>;

  /** `send` writes to ssh's stdin (the password, when sudo asks). */
  constructor(become: BecomeHop, nonce: string, send: (bytes: Uint8Array) => Promise<void>) {
    this.#become = become;
    this.#marker = becomeMarker(nonce);
    this.#prompt = becomePrompt(nonce);
    this.#send = send;
    this.open = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.open.catch(() => {});
  }

  /**
   * Takes a chunk of stderr: while the gate is shut, keeps it (sudo's words) and returns null;
   * from the marker on, returns what follows it (the call's own stderr).
   */
  push(chunk: Uint8Array): Uint8Array | null {
    if (this.#settled) return chunk;
    this.#text += this.#dec.decode(chunk, { stream: true });
    const at = this.#text.indexOf(this.#marker);
    if (at >= 0) {
      const after = this.#text.slice(at + this.#marker.length);
      this.#settle(null);
      return after === "" ? null : enc.encode(after);
    }
    this.#checkPrompt();
    return null;
  }

  #checkPrompt(): void {
    // Only what came since the last answer: a prompt is answered once.
    const fresh = this.#text.slice(this.#seen);
    const asked = fresh.endsWith(this.#prompt) || /password[^\n]*:\s*$/i.test(fresh);
    if (!asked) return;
    this.#seen = this.#text.length;
    this.#prompts++;
    if (this.#prompts > 1) {
      this.#settle(
        new BecomeError(
          "wrong_password",
          `Cannot become "${this.#become.user ?? "root"}" with sudo: the password was refused`,
          "Check the become password (sudo asks for the login user's own)",
        ),
      );
      return;
    }
    this.#send(enc.encode(`${this.#become.password ?? ""}\n`)).catch((e) => this.#settle(e));
  }

  /** The stream ended (or the call did) with the gate still shut: why, from sudo's words. */
  end(): void {
    if (this.#settled) return;
    this.#settle(
      becomeFailure(this.#become, this.#text) ??
        new BecomeError(
          "failed",
          `Cannot become "${this.#become.user ?? "root"}" with sudo: it ended without a word`,
          "Run the command with sudo on the host to see why",
        ),
    );
  }

  /** Gives up after `ms` with a timeout error, unless the gate settled first. */
  limit(ms: number): void {
    const timer = setTimeout(() => {
      this.#settle(
        new BecomeError(
          "timeout",
          `Cannot become "${this.#become.user ?? "root"}" with sudo: no answer in ${ms / 1000} s`,
          "Check that sudo on the host can ask on stdin (sudo -S) and is not waiting elsewhere",
        ),
      );
    }, ms);
    this.open.finally(() => clearTimeout(timer)).catch(() => {});
  }

  #settle(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (error === null) this.#resolve();
    else this.#reject(error);
  }
}
