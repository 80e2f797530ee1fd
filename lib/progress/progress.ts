/**
 * The one progress reporter of long work (training images, evaluation batches, downloads, decode checks): on a
 * terminal an in-place bar `label [####......] 12/50 img 24% 3.10 img/s ETA 0:12`; otherwise (logs, CI) the same
 * status as a line at every ~10% and at the end. One ETA format everywhere: {@link formatDuration}. Its text
 * goes through lib/core `terminalText` (a label or an extra with a name in it cannot drive the terminal).
 * @module
 */
import { terminalText } from "../core/terminal.ts";

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
  /** Unit of the count and the rate, e.g. `img` → `12/50 img … 3.10 img/s` (default `it`). */
  unit?: string;
  /** Counts are divided by this for display, shown with one decimal (e.g. 1048576 with unit `MiB`). */
  scale?: number;
  /** Draw an in-place bar (default: whether stderr is a terminal). */
  tty?: boolean;
  /** Report nothing (e.g. `--quiet`); {@link Progress.log} still prints. */
  quiet?: boolean;
  /** Where text goes (default stderr). */
  write?: (text: string) => void;
  /** Clock in ms (default performance.now); for tests. */
  now?: () => number;
}

const encoder = new TextEncoder();

/**
 * Reports `done` of `total` items with rate and ETA (`total` null: unknown, count and rate only). Call
 * {@link update} as work finishes, {@link log} for other lines meanwhile, {@link finish} at the end.
 */
export class Progress {
  readonly #tty: boolean;
  readonly #quiet: boolean;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  readonly #unit: string;
  readonly #scale: number;
  #nextDecile = 1;
  #lastDraw = -Infinity;
  #done = 0;
  #extra = "";
  #drawn = false;
  #finished = false;

  constructor(readonly label: string, readonly total: number | null, opts: ProgressOptions = {}) {
    this.#tty = opts.tty ?? Deno.stderr.isTerminal();
    this.#quiet = opts.quiet ?? false;
    this.#write = opts.write ?? ((text) => Deno.stderr.writeSync(encoder.encode(text)));
    this.#now = opts.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#unit = opts.unit ?? "it";
    this.#scale = opts.scale ?? 1;
  }

  #count(n: number): string {
    return this.#scale === 1 ? String(n) : (n / this.#scale).toFixed(1);
  }

  /** The status text for `done` items after `seconds`: one line, control characters shown as escapes. */
  line(done: number, seconds: number, extra = ""): string {
    const rate = seconds > 0 ? done / seconds / this.#scale : 0;
    const rateText = `${rate.toFixed(rate < 10 ? 2 : 1)} ${this.#unit}/s`;
    const known = this.total !== null && this.total > 0;
    const pct = known ? Math.floor((100 * done) / this.total!) : 100;
    const count = known
      ? `${this.#count(done)}/${this.#count(this.total!)} ${this.#unit} ${pct}%`
      : `${this.#count(done)} ${this.#unit}`;
    const finished = this.total !== null && done >= this.total;
    const tail = finished
      ? `done in ${formatDuration(seconds)}`
      : known
      ? `ETA ${formatDuration(rate > 0 ? (this.total! - done) / this.#scale / rate : NaN)}`
      : `elapsed ${formatDuration(seconds)}`;
    const bar = this.#tty && known ? ` [${"#".repeat(Math.round(pct / 5)).padEnd(20, ".")}]` : ":";
    const text = `${this.label}${bar} ${count} ${rateText} ${tail}${extra ? ` ${extra}` : ""}`;
    return terminalText(text, { keepNewlines: false });
  }

  #status(): string {
    return this.line(this.#done, (this.#now() - this.#start) / 1000, this.#extra);
  }

  /** Records that `done` items (cumulative) are finished; `extra` is appended (e.g. the current loss). */
  update(done: number, extra = ""): void {
    this.#done = done;
    this.#extra = extra;
    if (this.#quiet || this.#finished) return;
    const now = this.#now();
    const complete = this.total !== null && done >= this.total;
    if (this.#tty) {
      if (!complete && now - this.#lastDraw < 200) return;
      this.#lastDraw = now;
      this.#write(`\r\x1b[2K${this.#status()}`);
      this.#drawn = true;
      if (complete) this.#end();
      return;
    }
    if (this.total === null) {
      if (now - this.#lastDraw < 10_000) return; // unknown total: a line every 10 s
      this.#lastDraw = now;
    } else {
      const decile = this.total > 0 ? Math.floor((10 * done) / this.total) : 10;
      if (decile < this.#nextDecile && !complete) return;
      this.#nextDecile = decile + 1;
    }
    this.#write(`${this.#status()}\n`);
    if (complete) this.#finished = true;
  }

  /** Prints a line of its own (e.g. an epoch summary) without breaking the bar; control characters escaped. */
  log(line: string): void {
    const text = terminalText(line);
    if (this.#tty && this.#drawn && !this.#finished) {
      this.#write(`\r\x1b[2K${text}\n${this.#status()}`);
    } else this.#write(`${text}\n`);
  }

  /** Ends the report: a final status line unless the last update already showed the end. */
  finish(extra?: string): void {
    if (this.#finished) return;
    if (extra !== undefined) this.#extra = extra;
    if (!this.#quiet) this.#write(`${this.#tty ? "\r\x1b[2K" : ""}${this.#status()}\n`);
    this.#finished = true;
  }

  #end(): void {
    this.#write("\n");
    this.#finished = true;
  }
}
