/**
 * Checks of a task's input files right after its flags are parsed, so that a mistyped path fails at once (exit 1,
 * naming the flag and the path) rather than after minutes of work.
 * @module
 */
import { InputError } from "../core/errors.ts";
import { camelCase } from "./flags.ts";

/** A path given on the command line that cannot be read. */
export class MissingInputError extends InputError {
  override name = "MissingInputError";
}

/**
 * Checks that the paths of the given flags exist (flags not given are skipped).
 * @param flags parsed flags (camelCase keys, as {@link parseFlags} returns them)
 * @param names kebab-case names of the flags that hold input paths
 * @throws MissingInputError `--checkpoint x.pth: no such file or directory`
 */
export async function checkInputFiles(flags: object, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const path = (flags as Record<string, unknown>)[camelCase(name)];
    if (typeof path !== "string") continue;
    try {
      await Deno.stat(path);
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound ? "no such file or directory" : (e as Error).message;
      throw new MissingInputError(`--${name} ${path}: ${why}`);
    }
  }
}
