/**
 * The one progress reporter of long work (training images, evaluation batches, downloads, decode checks): on a
 * terminal an in-place bar `label [####......] 12/50 24% 3.1 img/s ETA 0:12`; otherwise (logs, CI) a line at
 * every ~10% and at the end. One ETA format everywhere: {@link formatDuration}.
 * @module
 */

/** Seconds as `m:ss` (or `h:mm:ss` from an hour on); `?` when not finite. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(sec).padStart(2, "0")}`;
}

/** Options of a {@link Progress}. */
export interface ProgressOptions {
  /** Unit of the rate, e.g. `img` → `3.1 img/s` (default `it`). */
  unit?: string;
  /** Draw an in-place bar (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Where lines go (default stderr). */
  write?: (text: string) => void;
  /** Clock in ms (default performance.now); for tests. */
  now?: () => number;
  /** Number formatter of the count (e.g. MiB for downloads). */
  formatCount?: (n: number) => string;
}

const encoder = new TextEncoder();

/** Reports `done` of `total` items with rate and ETA. Call {@link update} as work finishes, {@link finish} at the end. */
export class Progress {
  readonly #tty: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  readonly #unit: string;
  readonly #fmt: (n: number) => string;
  #nextDecile = 1;
  #lastDraw = -Infinity;
  #done = 0;
  #finished = false;

  constructor(readonly label: string, readonly total: number, opts: ProgressOptions = {}) {
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#write = opts.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#unit = opts.unit ?? "it";
    this.#fmt = opts.formatCount ?? String;
  }

  /** The status text for `done` items after `seconds` (no newline). */
  line(done: number, seconds: number, extra = ""): string {
    const rate = seconds > 0 ? done / seconds : 0;
    const pct = this.total > 0 ? Math.floor((100 * done) / this.total) : 100;
    const count = `${this.#fmt(done)}/${this.#fmt(this.total)} ${pct}%`;
    const tail = done >= this.total
      ? `done in ${formatDuration(seconds)}`
      : `ETA ${formatDuration(rate > 0 ? (this.total - done) / rate : NaN)}`;
    const bar = this.#tty ? ` [${"#".repeat(Math.round(pct / 5)).padEnd(20, ".")}]` : ":";
    return `${this.label}${bar} ${count} ${rate.toFixed(rate < 10 ? 2 : 1)} ${this.#unit}/s ${tail}${
      extra ? ` ${extra}` : ""
    }`;
  }

  /** Records that `done` items (cumulative) are finished; `extra` is appended (e.g. the current loss). */
  update(done: number, extra = ""): void {
    this.#done = done;
    const now = this.#now();
    const seconds = (now - this.#start) / 1000;
    if (this.#tty) {
      if (done < this.total && now - this.#lastDraw < 200) return;
      this.#lastDraw = now;
      this.#write(`\r\x1b[2K${this.line(done, seconds, extra)}`);
      if (done >= this.total) this.#end();
      return;
    }
    const decile = this.total > 0 ? Math.floor((10 * done) / this.total) : 10;
    if (decile < this.#nextDecile && done < this.total) return;
    this.#nextDecile = decile + 1;
    this.#write(`${this.line(done, seconds, extra)}\n`);
    if (done >= this.total) this.#finished = true;
  }

  /** Ends the report (a final line if the last update did not reach `total`). */
  finish(extra = ""): void {
    if (this.#finished) return;
    if (this.#done < this.total) {
      const seconds = (this.#now() - this.#start) / 1000;
      this.#write(`${this.#tty ? "\r\x1b[2K" : ""}${this.line(this.#done, seconds, extra)}\n`);
    } else if (this.#tty) this.#end();
    this.#finished = true;
  }

  #end(): void {
    if (this.#finished) return;
    this.#write("\n");
    this.#finished = true;
  }
}
