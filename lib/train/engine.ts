/**
 * The gradient engine of a fine-tuning run: this thread on the tf.js backend, with oneDNN convolutions when
 * asked and available, or a pool of data-parallel workers (lib/engine/pool.ts). Says its choice once.
 * @module
 */
import { InputError } from "../core/mod.ts";
import {
  enableNativeConv,
  modelParamData,
  nativeConvWithGrad,
  poolLossAndGradients,
  SsdWorkerPool,
} from "../engine/mod.ts";
import { priorsCxcyFor, type SsdModel } from "../ssd/mod.ts";
import type { TrainHooks } from "./loop.ts";
import type { Engine } from "./run_json.ts";
import { lossAndGradients } from "./step.ts";

/** A started engine: its gradient hook for {@link train} (undefined: the loop's default), what it is, its end. */
export interface GradientEngine {
  gradients?: TrainHooks["gradients"];
  engine: Engine;
  close(): Promise<void>;
}

/**
 * Starts the engine for `model` on the running tf.js `backend`.
 * @param log where the choice is said (stderr)
 * @throws InputError when workers are asked for on a backend that cannot run in workers
 */
export async function startGradientEngine(
  model: SsdModel,
  opts: { workers: number; nativeConv: boolean; microBatch: number },
  backend: string,
  log: (line: string) => void,
): Promise<GradientEngine> {
  const priorsCxcy = priorsCxcyFor(model.anchors);
  const { microBatch } = opts;
  const plain = backend === "cpu" || backend === "tensorflow" ? backend : "wasm";
  if (opts.workers > 1) {
    if (backend !== "wasm" && backend !== "cpu") {
      throw new InputError(
        `--workers ${opts.workers} needs --backend wasm or cpu (the backend is ${backend})`,
      );
    }
    const pool = await SsdWorkerPool.create({
      workers: opts.workers,
      backend,
      nClasses: model.nClasses,
      anchors: model.anchors,
      params: await modelParamData(model),
      nativeConv: opts.nativeConv,
    });
    log(`gradients on ${opts.workers} workers, convolutions: ${pool.conv}`);
    return {
      engine: { backend, conv: pool.conv.startsWith("onednn") ? "onednn" : backend, workers: opts.workers },
      gradients: async (batch, names) => {
        // the replicas get the parameters the optimiser may have changed since the last step
        await pool.setWeights(
          new Map(names.map((n) => [n, model.params.get(n)!.dataSync() as Float32Array])),
        );
        return poolLossAndGradients(pool, batch, { priorsCxcy, microBatch, trainable: names });
      },
      close: () => pool.close(),
    };
  }
  if (opts.nativeConv) {
    const native = enableNativeConv(2);
    log(
      native.ok
        ? `convolutions through oneDNN (${native.lib})`
        : `--native-conv: ${native.reason}; using WASM`,
    );
    if (native.ok) {
      return {
        engine: { backend, conv: "onednn", workers: 1 },
        gradients: (batch, names) =>
          Promise.resolve(
            lossAndGradients(model, batch, {
              priorsCxcy,
              microBatch,
              trainable: names,
              conv: nativeConvWithGrad,
            }),
          ),
        close: () => Promise.resolve(),
      };
    }
  }
  return { engine: { backend, conv: plain, workers: 1 }, close: () => Promise.resolve() };
}
