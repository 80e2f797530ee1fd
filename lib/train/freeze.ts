/**
 * Which parameters train: the freeze modes of `deno task finetune --freeze`.
 * @module
 */
import type { SsdModel } from "../ssd/mod.ts";

/** Which parameters stay fixed. */
export type FreezeMode = "none" | "base" | "base+aux";
export const FREEZE_MODES: readonly FreezeMode[] = ["none", "base", "base+aux"];

/**
 * Names of the parameters that train under a freeze mode: `base` freezes the VGG base (`base.*`), `base+aux` also
 * the auxiliary convs (`aux_convs.*`); the prediction heads and the conv4_3 `rescale_factors` always train.
 */
export function trainableNames(model: SsdModel, freeze: FreezeMode): string[] {
  const frozen = freeze === "none" ? [] : freeze === "base" ? ["base."] : ["base.", "aux_convs."];
  return [...model.params.keys()].filter((n) => !frozen.some((p) => n.startsWith(p)));
}
