/**
 * Foundations every stage uses, with no TF.js: the known-error base class, JSON artifacts validated with zod
 * and written atomically, and the seeded random generator.
 * @module
 */
export {
  ArtifactError,
  readJsonArtifact,
  validateArtifact,
  writeFileAtomic,
  writeJsonArtifact,
} from "./artifacts.ts";
export { describeValue, InputError } from "./errors.ts";
export { mulberry32, Rng, type RngState, shuffled } from "./rng.ts";
