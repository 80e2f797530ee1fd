/**
 * Declarative command-line flags for every task: one table per task drives parsing, validation (types, choices,
 * ranges, required flags, did-you-mean for unknown flags) and the `--help` text (one line per flag).
 *
 * Written here rather than taken from `node:util` parseArgs because that one neither validates values nor
 * suggests near names nor writes help; `@std/cli` (JSR) is unreachable from this environment.
 * @module
 */

/** What a flag's value is. `boolean` flags take no value (`--no-NAME` turns a `negatable` one off). */
export type FlagKind = "string" | "number" | "integer" | "boolean" | "choice" | "list";

/** One flag of a task. */
export interface FlagSpec {
  readonly kind: FlagKind;
  /** One line for `--help`. */
  readonly description: string;
  /** Placeholder of the value in the help, e.g. `DIR` (default: by kind). */
  readonly value?: string;
  /** Value when the flag is absent (shown in the help). */
  readonly default?: string | number | boolean;
  /** Allowed values of a `choice` flag. */
  readonly choices?: readonly string[];
  /** Inclusive bounds of a `number`/`integer` flag. */
  readonly min?: number;
  readonly max?: number;
  /** `number` only: the value must be strictly greater than `min`. */
  readonly exclusiveMin?: boolean;
  /** `number` only: the value must be strictly less than `max`. */
  readonly exclusiveMax?: boolean;
  /** The flag must be given. */
  readonly required?: boolean;
  /** `boolean` only: `--no-NAME` sets it false. */
  readonly negatable?: boolean;
  /** A one-letter alias, e.g. `q` for `-q`. */
  readonly short?: string;
  /**
   * A process-wide setting the flag controls (e.g. `--max-pixels`): {@link parseFlags} calls it with the
   * flag's value (its default when absent) once the whole command line is valid.
   */
  readonly apply?: (value: never) => void;
}

/** A task's command line: name, synopsis lines, one-paragraph summary and its flags. */
export interface CliSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** The task name, as in `deno task <name>`. */
  readonly task: string;
  /** Synopsis lines without the `deno task <name>` prefix, e.g. `--dataset FILE --out DIR [flags]`. */
  readonly usage: readonly string[];
  /** What the task does, a few lines. */
  readonly summary: string;
  readonly flags: F;
  /** Whether bare (non-flag) arguments are accepted; they come back as `positionals`. */
  readonly positionals?: boolean;
  /** Groups of flags of which exactly one must be given (e.g. the starting model of a run). */
  readonly exactlyOne?: readonly (readonly string[])[];
}

/** A bad command line. The message is one line; the runner adds the pointer to `--help` and exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Thrown by {@link parseFlags} on `--help`/`-h`; the runner prints the help to stdout and exits 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
  constructor(readonly text: string) {
    super("help requested");
  }
}

/** kebab-case flag name → camelCase key of {@link ParsedFlags}. */
export type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
/** The parsed value of one flag. */
export type FlagValue<F extends FlagSpec> = F extends { kind: "boolean" } ? boolean
  : F extends { kind: "number" | "integer" } ? number
  : F extends { kind: "list" } ? string[]
  : F extends { kind: "choice"; choices: readonly (infer C)[] } ? C
  : string;
type Present<F extends FlagSpec> = F extends
  { default: unknown } | { required: true } | { kind: "boolean" | "list" } ? FlagValue<F>
  : FlagValue<F> | undefined;

/** Parsed flags, keyed by camelCase name (`--min-score` → `minScore`). */
export type ParsedFlags<F extends Record<string, FlagSpec>> =
  & { -readonly [K in keyof F & string as Camel<K>]: Present<F[K]> }
  & { positionals: string[]; given: ReadonlySet<string> };

/** kebab-case → camelCase. */
export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Levenshtein distance (small strings only). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest known flag to `name` when it is plausibly a typo (distance ≤ 2, or a prefix), else undefined. */
export function closestFlag(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined, bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) && name.length >= 3 ? 0.5 : editDistance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(1, Math.min(2, Math.floor(name.length / 3))) ? best : undefined;
}

function placeholder(spec: FlagSpec): string {
  if (spec.kind === "boolean") return "";
  if (spec.value) return spec.value;
  if (spec.kind === "choice") return (spec.choices ?? []).join("|");
  return spec.kind === "integer" ? "N" : spec.kind === "number" ? "X" : "VALUE";
}

/** The `--help` text: synopsis, summary, then one line per flag with its default. */
export function formatHelp(cli: CliSpec): string {
  const lines = cli.usage.map((u, i) => `${i === 0 ? "usage: " : "       "}deno task ${cli.task} ${u}`);
  lines.push("", cli.summary.trim(), "", "flags:");
  const rows: [string, string][] = [];
  for (const [name, spec] of Object.entries(cli.flags)) {
    const ph = placeholder(spec);
    const left = (spec.short ? `-${spec.short}, ` : "") +
      (spec.kind === "boolean" && spec.negatable ? `--[no-]${name}` : `--${name}${ph ? ` ${ph}` : ""}`);
    let right = spec.description;
    if (spec.default !== undefined && spec.default !== false) right += ` (default ${spec.default})`;
    if (spec.required) right += " (required)";
    rows.push([left, right]);
  }
  rows.push(["--debug", "show stack traces of errors (also SSD_DEBUG=1)"]);
  rows.push(["-h, --help", "show this help"]);
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  for (const [l, r] of rows) {
    lines.push(l.length + 2 > width ? `  ${l}  ${r}` : `  ${l.padEnd(width)}${r}`);
  }
  return lines.join("\n");
}

function rangeText(spec: FlagSpec): string {
  const what = spec.kind === "integer" ? "an integer" : "a number";
  const lo = spec.min === undefined ? "" : `${spec.exclusiveMin ? ">" : "≥"} ${spec.min}`;
  const hi = spec.max === undefined ? "" : `${spec.exclusiveMax ? "<" : "≤"} ${spec.max}`;
  return [what, [lo, hi].filter(Boolean).join(" and ")].filter(Boolean).join(" ");
}

/** Converts and checks one value; throws a {@link UsageError} naming the flag and the value. */
function convert(name: string, spec: FlagSpec, raw: string): string | number {
  switch (spec.kind) {
    case "string":
    case "list":
      if (raw === "") throw new UsageError(`--${name}: expected a value, got an empty string`);
      return raw;
    case "choice":
      if (!(spec.choices ?? []).includes(raw)) {
        throw new UsageError(`--${name}: expected one of ${(spec.choices ?? []).join(", ")}, got '${raw}'`);
      }
      return raw;
    case "number":
    case "integer": {
      const x = Number(raw);
      const ok = raw.trim() !== "" && Number.isFinite(x) && (spec.kind === "number" || Number.isInteger(x)) &&
        (spec.min === undefined || (spec.exclusiveMin ? x > spec.min : x >= spec.min)) &&
        (spec.max === undefined || (spec.exclusiveMax ? x < spec.max : x <= spec.max));
      const shown = /^\S+$/.test(raw) ? raw : `'${raw}'`; // quoted only when blank or spaced
      if (!ok) throw new UsageError(`--${name}: expected ${rangeText(spec)}, got ${shown}`);
      return x;
    }
    default:
      throw new Error(`flag --${name} of kind ${spec.kind} takes no value`);
  }
}

/**
 * Parses `args` against the spec. Accepts `--name value`, `--name=value`, `--flag`, `--no-flag` (negatable),
 * `-x` (a flag's `short` alias), `-h`/`--help`. A number flag always takes the next argument as its value, so
 * `--top-k -5` reaches the range check; other value flags refuse a next argument that is itself a flag
 * (`--out --epochs 3`). Repeated `list` flags accumulate; other repeats keep the last value.
 * @throws UsageError for an unknown flag (with the closest known name), a missing or malformed value, a value out
 *   of range, a negatable flag given both ways, a missing required flag, a group of `exactlyOne` not given
 *   exactly once or an unexpected bare argument; HelpRequested for `--help`.
 */
export function parseFlags<F extends Record<string, FlagSpec>>(
  cli: CliSpec<F>,
  args: readonly string[],
): ParsedFlags<F> {
  const known = Object.keys(cli.flags);
  const shorts = new Map(Object.entries(cli.flags).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  const out: Record<string, unknown> = {};
  const given = new Set<string>();
  const negated = new Map<string, boolean>();
  const positionals: string[] = [];
  if (args.includes("--help") || args.includes("-h")) throw new HelpRequested(formatHelp(cli));
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (/^-[^-]/.test(arg) && shorts.has(arg.slice(1))) arg = `--${shorts.get(arg.slice(1))}`;
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg.length > 1 && Number.isNaN(Number(arg))) {
        throw new UsageError(`unknown flag ${arg}${suggest(arg.replace(/^-+/, ""), known)}`);
      }
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let spec: FlagSpec | undefined = cli.flags[name];
    let negative = false;
    if (!spec && name.startsWith("no-") && cli.flags[name.slice(3)]?.negatable) {
      name = name.slice(3);
      spec = cli.flags[name];
      negative = true;
    }
    if (!spec) throw new UsageError(`unknown flag --${name}${suggest(name, known)}`);
    given.add(name);
    const key = camelCase(name);
    if (spec.kind === "boolean") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value (got '${inline}')`);
      if (negated.has(name) && negated.get(name) !== negative) {
        throw new UsageError(`--${name} and --no-${name} contradict each other`);
      }
      negated.set(name, negative);
      out[key] = !negative;
      continue;
    }
    const raw = inline ?? args[i + 1];
    if (inline === undefined) i++;
    const isNumeric = spec.kind === "number" || spec.kind === "integer";
    if (raw === undefined || (inline === undefined && !isNumeric && raw.startsWith("--"))) {
      throw new UsageError(
        `--${name}: missing value (${placeholder(spec)})${raw === undefined ? "" : `, got the flag ${raw}`}`,
      );
    }
    const value = convert(name, spec, raw);
    if (spec.kind === "list") out[key] = [...((out[key] as string[] | undefined) ?? []), value];
    else out[key] = value;
  }
  if (positionals.length && !cli.positionals) {
    throw new UsageError(`unexpected argument '${positionals[0]}'`);
  }
  for (const [name, spec] of Object.entries(cli.flags)) {
    const key = camelCase(name);
    if (out[key] !== undefined) continue;
    if (spec.required) {
      throw new UsageError(`--${name} ${placeholder(spec)} is required`.replace(/ +is/, " is"));
    }
    if (spec.default !== undefined) out[key] = spec.default;
    else if (spec.kind === "boolean") out[key] = false;
    else if (spec.kind === "list") out[key] = [];
  }
  for (const group of cli.exactlyOne ?? []) {
    if (group.filter((n) => given.has(n)).length !== 1) {
      throw new UsageError(`give exactly one of ${group.map((n) => `--${n}`).join(", ")}`);
    }
  }
  for (const [name, spec] of Object.entries(cli.flags)) {
    const value = out[camelCase(name)];
    if (spec.apply && value !== undefined) (spec.apply as (v: unknown) => void)(value);
  }
  return { ...out, positionals, given } as ParsedFlags<F>;
}

function suggest(name: string, known: readonly string[]): string {
  const c = closestFlag(name, known);
  return c ? ` (did you mean --${c}?)` : "";
}
