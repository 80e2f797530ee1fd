/**
 * Foundations every stage uses, with no TF.js: the known-error base class and short lists for messages, bounded
 * reads of the files users give us, the one folder walk, JSON artifacts validated with zod and written
 * atomically, checksums, the zip reader, the seeded random generator, path text, HTML escaping (html.ts) and
 * terminal text (terminal.ts).
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
export { crc32, sha256Hex } from "./checksum.ts";
export { bulletList, describeValue, inlineList, InputError, MAX_LISTED } from "./errors.ts";
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
export { withoutTrailingSlash } from "./paths.ts";
export { mulberry32, Rng, type RngState, shuffled } from "./rng.ts";
export { terminalText, type TerminalTextOptions } from "./terminal.ts";
export { readZipDirectory, readZipEntry, type ZipEntry, ZipFormatError } from "./zip.ts";
