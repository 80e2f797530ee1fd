/**
 * Running the pipeline's own tasks as child processes (`deno task <name> …`), for the orchestrating tasks
 * (`demo`, `experiments`), and their command lines as a POSIX shell reads them. Each stage keeps its own
 * permissions, artifacts and progress output.
 * @module
 */
import { fileURLToPath } from "node:url";
import { InputError } from "../../lib/core/mod.ts";

/** The project root (the folder with deno.json, ending in `/`), where `deno task` finds the task definitions. */
export const PROJECT_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

const SAFE_WORD = /^[\w@%+=:,./-]+$/;

/**
 * One word for a POSIX shell (sh, bash, dash, zsh): as is when it holds only safe characters, else in single
 * quotes with each `'` written `'\''`. Paths with spaces, quotes, `$` or `*` stay one literal word.
 */
export function shellQuote(word: string): string {
  return SAFE_WORD.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A command line of shell-quoted words. */
export const shellLine = (words: readonly string[]): string => words.map(shellQuote).join(" ");

/** A stage that exited non-zero; names the task and its exit code. */
export class TaskFailedError extends InputError {
  override name = "TaskFailedError";
  constructor(readonly task: string, readonly code: number, readonly args: readonly string[]) {
    super(`${shellLine(["deno", "task", task, ...args])} failed with exit code ${code}`);
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
}

/** Options of {@link runDenoTask}. */
export interface DenoTaskOptions {
  /** append the stage's stdout and stderr to this file instead of passing them through */
  log?: string;
}

/**
 * Runs `deno task <task> <args…>` in the project root with stdout and stderr passed through (or appended to
 * `o.log`).
 * @returns wall-clock seconds the stage took
 * @throws TaskFailedError when it exits non-zero
 */
export async function runDenoTask(
  task: string,
  args: readonly string[],
  o: DenoTaskOptions = {},
): Promise<number> {
  const t0 = performance.now();
  const header = `\n$ ${shellLine(["deno", "task", task, ...args])}`;
  const log = o.log === undefined ? undefined : await Deno.open(o.log, { append: true, create: true });
  try {
    if (log) await writeAll(log, new TextEncoder().encode(`${header}\n`));
    else console.error(header);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, ...args],
      cwd: PROJECT_ROOT,
      stdin: "null",
      stdout: log ? "piped" : "inherit",
      stderr: log ? "piped" : "inherit",
    }).spawn();
    if (log) {
      // each chunk is one append write, so the two streams interleave as they come
      const copy = async (stream: ReadableStream<Uint8Array>) => {
        for await (const chunk of stream) await writeAll(log, chunk);
      };
      await Promise.all([copy(child.stdout), copy(child.stderr)]);
    }
    const { code } = await child.status;
    if (code !== 0) throw new TaskFailedError(task, code, args);
  } finally {
    log?.close();
  }
  return (performance.now() - t0) / 1000;
}
