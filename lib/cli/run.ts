/**
 * The task runner every `tasks/*.ts` ends with: runs the task's `main`, and turns its outcome into the exit code
 * and the few lines a user sees.
 *
 * - `--help`/`-h` → the help on stdout, exit 0.
 * - {@link UsageError} (a bad command line) → `<task>: <problem>` and `see deno task <task> --help` on stderr,
 *   exit 2.
 * - {@link InputError} (a known problem with a file: missing, invalid, incompatible, …) or a file-system error
 *   from Deno (not found, permission denied, …) → `<task>: <message>` on stderr, exit 1, no stack; a known I/O
 *   failure (no space left, quota, read-only file system, permission, I/O error: lib/core/io_errors.ts) reads
 *   `<task>: <path>: <failure> [ENOSPC]`, naming the path.
 * - Anything else is a bug: its stack on stderr, exit 1.
 * `--debug` (removed from the arguments before `main` sees them) or `SSD_DEBUG=1` adds the stack to every error.
 *
 * Everything the task prints through `console` while it runs — its own lines, the lines above, messages of the
 * stages — passes through lib/core `terminalText`: control characters in names from the user's files (ESC, BEL,
 * CR, NUL, C1, bidi overrides) are shown as escapes, never acted on by the terminal.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { knownIoError } from "../core/io_errors.ts";
import { terminalText } from "../core/terminal.ts";
import { HelpRequested, UsageError } from "./flags.ts";

/** Errors from the runtime that are about the user's files, not our code. */
const FILE_SYSTEM_ERRORS: readonly (new (...args: never[]) => Error)[] = [
  Deno.errors.NotFound,
  Deno.errors.PermissionDenied,
  Deno.errors.IsADirectory,
  Deno.errors.NotADirectory,
  Deno.errors.AlreadyExists,
  Deno.errors.NotCapable,
];

/** Whether an error is a known input problem (exit 1, no stack). */
export function isKnownError(e: unknown): e is Error {
  return e instanceof InputError || FILE_SYSTEM_ERRORS.some((cls) => e instanceof cls) ||
    knownIoError(e) !== undefined;
}

/** How an error ends the process: exit code and the lines for stderr (stdout for help). */
export interface Outcome {
  code: 0 | 1 | 2;
  stdout: string[];
  stderr: string[];
}

/** Classifies an error thrown by a task's main (pure; {@link runTask} prints it). */
export function outcomeOf(task: string, e: unknown, debug: boolean): Outcome {
  if (e instanceof HelpRequested) return { code: 0, stdout: [e.text], stderr: [] };
  const stack = (err: unknown) => (debug && err instanceof Error && err.stack ? [err.stack] : []);
  if (e instanceof UsageError) {
    return {
      code: 2,
      stdout: [],
      stderr: [`${task}: ${e.message}`, `see deno task ${task} --help`, ...stack(e)],
    };
  }
  if (isKnownError(e)) {
    const message = (knownIoError(e) ?? e).message;
    return { code: 1, stdout: [], stderr: [`${task}: ${message}`, ...stack(e)] };
  }
  const text = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
  return { code: 1, stdout: [], stderr: [`${task}: internal error (a bug; please report it):`, text] };
}

/** Whether `SSD_DEBUG` asks for stacks (read only where the task may read the environment). */
function debugFromEnv(): boolean {
  const env = { name: "env", variable: "SSD_DEBUG" } as const;
  if (Deno.permissions.querySync(env).state !== "granted") return false;
  return ["1", "true"].includes(Deno.env.get("SSD_DEBUG") ?? "");
}

/** The console methods that write to stdout or stderr. */
const CONSOLE_METHODS = ["log", "info", "debug", "error", "warn"] as const;

/** One console call's arguments as the text it prints (strings as they are, other values inspected). */
function consoleText(args: unknown[]): string {
  return args.map((a) => (typeof a === "string" ? a : Deno.inspect(a))).join(" ");
}

/**
 * Runs `fn` with every console method ({@link CONSOLE_METHODS}) printing `terminalText` of its arguments (as
 * one string, so that `%` in a name is never a format directive); the methods are restored afterwards.
 */
export async function withTerminalSafeConsole<T>(fn: () => Promise<T>): Promise<T> {
  const saved = CONSOLE_METHODS.map((m) => console[m]);
  CONSOLE_METHODS.forEach((m, i) => {
    const original = saved[i];
    console[m] = (...args: unknown[]) => original.call(console, terminalText(consoleText(args)));
  });
  try {
    return await fn();
  } finally {
    CONSOLE_METHODS.forEach((m, i) => (console[m] = saved[i]));
  }
}

/**
 * Runs a task's `main(args)`, prints the outcome of what it throws ({@link outcomeOf}) and returns the exit code
 * (0 when it returns). For tests; tasks end with {@link runTask}.
 * @param task the name used in messages (`deno task <task>`)
 */
export async function runCli(
  task: string,
  main: (args: string[]) => Promise<void> | void,
  args: readonly string[] = Deno.args,
): Promise<0 | 1 | 2> {
  const debug = args.includes("--debug") || debugFromEnv();
  return await withTerminalSafeConsole(async () => {
    try {
      await main(args.filter((a) => a !== "--debug"));
      return 0;
    } catch (e) {
      const outcome = outcomeOf(task, e, debug);
      for (const line of outcome.stdout) console.log(line);
      for (const line of outcome.stderr) console.error(line);
      return outcome.code;
    }
  });
}

/** Runs a task's `main(args)` ({@link runCli}) and exits with its code. Never returns. */
export async function runTask(
  task: string,
  main: (args: string[]) => Promise<void> | void,
  args: readonly string[] = Deno.args,
): Promise<never> {
  Deno.exit(await runCli(task, main, args));
}
