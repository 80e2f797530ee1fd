/**
 * What a task shows on the terminal while it works: the progress reporter (an in-place bar on a terminal, a line
 * every 10% otherwise) and the `m:ss` durations it prints. Below every stage that reports progress.
 * @module
 */
export { formatDuration, Progress, type ProgressOptions } from "./progress.ts";
