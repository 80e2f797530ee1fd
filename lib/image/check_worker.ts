/**
 * Worker of lib/image/check.ts: fully decodes each image or mask it is sent, with the sender's pixel limit, and
 * answers with the decoder's message when it fails (null when it decodes).
 * @module
 */
/// <reference lib="deno.worker" />
import { decodeImage, decodeMask } from "./codec.ts";
import { setMaxImagePixels } from "./header.ts";

/** A request to a check worker, and its answer. */
export interface CheckRequest {
  index: number;
  name: string;
  kind: "image" | "mask";
  bytes: Uint8Array;
  maxPixels: number;
}
export interface CheckAnswer {
  index: number;
  reason: string | null;
}

self.onmessage = (e: MessageEvent<CheckRequest>) => {
  const { index, name, kind, bytes, maxPixels } = e.data;
  let reason: string | null = null;
  try {
    setMaxImagePixels(maxPixels);
    if (kind === "mask") decodeMask(bytes, name);
    else decodeImage(bytes, name);
  } catch (err) {
    const r = (err as { reason?: unknown }).reason;
    reason = typeof r === "string" ? r : (err as Error).message ?? String(err);
  }
  const answer: CheckAnswer = { index, reason };
  self.postMessage(answer);
};
