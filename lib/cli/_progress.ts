/**
 * The transfer progress line: bytes, files, rate and ETA on stderr, redrawn in place, only when
 * stderr is a terminal and only once the transfer has run for about a second.
 */

import type { TransferProgress } from "../core/files.ts";
import type { Io } from "./_common.ts";

/** Human bytes: `1.5 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** The line for a progress snapshot after `elapsedMs`. */
export function progressLine(p: TransferProgress, elapsedMs: number): string {
  const secs = Math.max(elapsedMs / 1000, 0.001);
  const rate = p.bytes / secs;
  const parts = [
    p.totalBytes ? `${formatBytes(p.bytes)} / ${formatBytes(p.totalBytes)}` : formatBytes(p.bytes),
  ];
  if (p.totalFiles !== undefined) parts.push(`${p.files ?? 0}/${p.totalFiles} files`);
  parts.push(`${formatBytes(rate)}/s`);
  if (p.totalBytes && rate > 0 && p.bytes < p.totalBytes) {
    parts.push(`ETA ${Math.ceil((p.totalBytes - p.bytes) / rate)} s`);
  }
  return parts.join("  ");
}

/** A progress reporter; call `update` freely, `stop` in `finally`. */
export class Progress {
  #io: Io;
  #enabled: boolean;
  #started = performance.now();
  #last: TransferProgress = { bytes: 0 };
  #timer: ReturnType<typeof setInterval> | undefined;
  #shown = false;
  #delayMs: number;

  /** Starts a reporter (inactive unless stderr is a terminal and `NO_PROGRESS` is unset). */
  constructor(io: Io, delayMs = 1000) {
    this.#io = io;
    this.#delayMs = delayMs;
    this.#enabled = (io.stderrIsTerminal?.() ?? false) && !io.env("YONDER_NO_PROGRESS");
    if (this.#enabled) this.#timer = setInterval(() => this.#draw(), 250);
  }

  /** Whether the line is drawn at all (stderr is a terminal and progress is not turned off). */
  get active(): boolean {
    return this.#enabled;
  }

  /** Records the latest state. */
  update = (p: TransferProgress): void => {
    this.#last = p;
  };

  #draw(): void {
    const elapsed = performance.now() - this.#started;
    if (elapsed < this.#delayMs) return;
    this.#shown = true;
    const line = progressLine(this.#last, elapsed);
    this.#io.stderr(new TextEncoder().encode(`\r\x1b[2K${line}`)).catch(() => {});
  }

  /** Stops redrawing and clears the line. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#shown) await this.#io.stderr(new TextEncoder().encode("\r\x1b[2K")).catch(() => {});
  }
}
