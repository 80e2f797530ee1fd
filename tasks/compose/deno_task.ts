/**
 * Running the pipeline's own tasks as child processes (`deno task <name> …`), for the orchestrating tasks
 * (`demo`, `experiments`). Each stage keeps its own permissions, artifacts and progress output.
 * @module
 */
import { InputError } from "../../lib/core/mod.ts";

/** The project root (the folder with deno.json), where `deno task` finds the task definitions. */
export const PROJECT_ROOT: string = new URL("../../", import.meta.url).pathname;

/** A stage that exited non-zero; names the task and its exit code. */
export class TaskFailedError extends InputError {
  override name = "TaskFailedError";
  constructor(readonly task: string, readonly code: number, readonly args: readonly string[]) {
    super(`deno task ${task} ${args.join(" ")} failed with exit code ${code}`);
  }
}

/**
 * Runs `deno task <task> <args…>` in the project root with stdout and stderr passed through.
 * @returns wall-clock seconds the stage took
 * @throws TaskFailedError when it exits non-zero
 */
export async function runDenoTask(task: string, args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  console.error(`\n$ deno task ${task} ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", task, ...args],
    cwd: PROJECT_ROOT,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const { code } = await child.status;
  if (code !== 0) throw new TaskFailedError(task, code, args);
  return (performance.now() - t0) / 1000;
}
