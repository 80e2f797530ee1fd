/**
 * Problems with the input data, collected rather than thrown one at a time: building a dataset reports EVERY
 * problem it finds, each naming its file.
 * @module
 */
import { bulletList, InputError } from "../core/mod.ts";

/** One problem with the input data, naming the file it is about. */
export interface DataProblem {
  file: string;
  message: string;
}

/**
 * The input data has problems; holds every problem found (each naming its file), not just the first, and shows
 * the first 20 in its message ("… and N more").
 */
export class DatasetError extends InputError {
  override name = "DatasetError";
  constructor(readonly problems: DataProblem[]) {
    super(
      `${problems.length} problem${problems.length === 1 ? "" : "s"} in the input data:` +
        bulletList(problems.map((p) => `${p.file}: ${p.message}`)),
    );
  }
}

/** A {@link DataProblem} for `file` from an error thrown while reading it (its `reason` when it has one). */
export function problemOf(e: unknown, file: string): DataProblem {
  if (e && typeof e === "object" && "reason" in e && typeof e.reason === "string") {
    return { file, message: e.reason };
  }
  return { file, message: e instanceof Error ? e.message : String(e) };
}
