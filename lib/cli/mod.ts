/**
 * The command-line layer of `tasks/*.ts`: declarative flags with `--help` and usage errors, the task runner
 * (exit codes 0/1/2, no stack traces for known problems), the progress reporter, and running other tasks.
 * @module
 */
export {
  BACKEND_FLAG,
  detectorFlags,
  ENGINE_FLAGS,
  engineArgs,
  MAX_PIXELS_FLAG,
  NETWORK_FLAGS,
  OUT_DIR_FLAG,
  TRUST_CHECKPOINT_FLAG,
} from "./common_flags.ts";
export {
  type Camel,
  camelCase,
  type CliSpec,
  closestFlag,
  editDistance,
  type FlagKind,
  type FlagSpec,
  type FlagValue,
  formatHelp,
  HelpRequested,
  type ParsedFlags,
  parseFlags,
  UsageError,
} from "./flags.ts";
export { checkInputFiles, MissingInputError } from "./inputs.ts";
export { isKnownError, type Outcome, outcomeOf, runCli, runTask } from "./run.ts";
