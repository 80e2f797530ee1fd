/**
 * Foundations every stage uses, with no TF.js: the known-error base class and short lists for messages, bounded
 * reads of the files users give us, the one folder walk, JSON artifacts validated with zod and written
 * atomically, run folders (one writer, all-or-nothing sets of files), known I/O failures, checksums, the zip
 * reader, the seeded random generator, path text (output names derived from input names), HTML escaping
 * (html.ts) and terminal text (terminal.ts).
 * @module
 */
export {
  ArtifactError,
  checkOutputFile,
  exists,
  OutputIsDirectoryError,
  readJsonArtifact,
  readJsonFile,
  removeStaleTemps,
  validateArtifact,
  writeFileAtomic,
  writeJsonArtifact,
} from "./artifacts.ts";
export { concatBytes } from "./bytes.ts";
export { transpose4d } from "./transpose.ts";
export { crc32, sha256Hex } from "./checksum.ts";
export { bulletList, describeValue, inlineList, InputError, MAX_LISTED } from "./errors.ts";
export { FileSystemError, KNOWN_IO_CODES, knownIoError, naming } from "./io_errors.ts";
export {
  MAX_DERIVED_DEPTH,
  MAX_SEGMENT_BYTES,
  OutputNames,
  publicPath,
  RUN_META_DIR,
  safeSegments,
  withoutTrailingSlash,
} from "./paths.ts";
export {
  FileReadError,
  formatBytes,
  READ_LIMITS,
  type ReadLimit,
  readRegularFile,
  readRegularFileSync,
  readRegularTextFile,
} from "./read_file.ts";
export { MAX_WALK_ENTRIES, walkFiles, type WalkOptions, type WalkResult } from "./walk.ts";
export { escapeHtml, joinMarkup, Markup, markup, type MarkupValue, rawMarkup } from "./html.ts";
export { mulberry32, Rng, type RngState, shuffled } from "./rng.ts";
export { terminalText, type TerminalTextOptions } from "./terminal.ts";
export {
  type ComposedRunLock,
  lockComposedRun,
  type LockHolder,
  lockOutputFiles,
  lockRunFolder,
  OutputFiles,
  OutputFolderError,
  RunFolder,
  RunFolderBusyError,
  withRunFolder,
} from "./run_folder.ts";
export { readZipDirectory, readZipEntry, type ZipEntry, ZipFormatError } from "./zip.ts";
