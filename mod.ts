/**
 * Public API of the SSD300 Penn-Fudan pipeline. Only re-exports; see `lib/` for the implementations.
 * @module
 */
export * from "./lib/backend.ts";
