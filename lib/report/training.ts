/**
 * Training curves from `train-log.json`: the loss of every optimiser step against the global step number, and
 * the per-epoch values (train loss, validation loss) at the step where that epoch ends.
 * @module
 */
import type { ChartSeries } from "./chart.ts";
import type { TrainingLog as TrainLog } from "../train/train_log.ts";
import type { BestEpoch } from "../train/best.ts";
import type { Rgb } from "../image/mod.ts";

/** The curves of one log, in data coordinates (x = global optimiser step, counted from 1). */
export interface TrainingCurves {
  /** [step, loss] of every logged step. */
  stepLoss: [number, number][];
  /** [last step of the epoch, value] per epoch that has the value. */
  trainLoss: [number, number][];
  valLoss: [number, number][];
  /** [epoch, AP@0.75 on the validation images]. */
  valAp75: [number, number][];
  /** Epoch → its last step. */
  epochEnds: Map<number, number>;
  /** The last step of the run (x-axis end). */
  lastStep: number;
}

/**
 * Builds the curves. `step` in the log counts optimiser steps over the whole run (`deno task finetune`); a log
 * whose step numbers restart each epoch (not increasing) is renumbered 1, 2, … in logged order. An epoch without
 * logged steps ends where the steps-per-epoch of the logged ones put it.
 */
export function trainingCurves(log: TrainLog): TrainingCurves {
  const increasing = log.steps.every((s, i) => i === 0 || s.step > log.steps[i - 1].step);
  const stepLoss = log.steps.map((s, i): [number, number] => [increasing ? s.step : i + 1, s.loss]);
  const epochEnds = new Map<number, number>();
  log.steps.forEach((s, i) => {
    const x = stepLoss[i][0];
    epochEnds.set(s.epoch, Math.max(epochEnds.get(s.epoch) ?? -Infinity, x));
  });
  const lastStep = stepLoss.length ? Math.max(...stepLoss.map((p) => p[0])) : 0;
  const logged = [...epochEnds.entries()].filter(([e]) => e > 0);
  const stepsPerEpoch = logged.length ? Math.max(...logged.map(([e, s]) => s / e)) : 1;
  const endOf = (epoch: number) => epochEnds.get(epoch) ?? Math.round(epoch * stepsPerEpoch);
  const at = (key: "train_loss" | "val_loss") =>
    log.epochs.filter((e) => typeof e[key] === "number").map((
      e,
    ): [number, number] => [endOf(e.epoch), e[key]!]);
  return {
    stepLoss,
    trainLoss: at("train_loss"),
    valLoss: at("val_loss"),
    valAp75: log.epochs.filter((e) => typeof e.val_ap75 === "number").map((e) => [e.epoch, e.val_ap75!]),
    epochEnds,
    lastStep,
  };
}

/** Step loss (grey), epoch train loss (run colour, dots) and validation loss (dashed, dots). */
export function lossSeries(curves: TrainingCurves, color: Rgb): ChartSeries[] {
  const series: ChartSeries[] = [{
    name: "loss of each step",
    color: [170, 170, 170],
    points: curves.stepLoss,
  }];
  if (curves.trainLoss.length) {
    series.push({
      name: "train loss (epoch mean, at its last step)",
      color,
      points: curves.trainLoss,
      markers: true,
    });
  }
  if (curves.valLoss.length) {
    series.push({
      name: "validation loss (at the epoch's last step)",
      color: [44, 160, 44],
      points: curves.valLoss,
      dashed: true,
      markers: true,
    });
  }
  return series;
}

/** The words for each `--select` metric in the report. */
const SELECT_LABEL: Record<BestEpoch["metric"], string> = {
  ap75: "validation AP@0.75",
  ap: "validation AP@[.5:.95]",
  loss: "validation loss",
};

/**
 * The run's best epoch (run.json `best`) as a ring on the validation AP@0.75 curve, named
 * `best (epoch N, by <metric>)`; none when the epoch has no logged AP@0.75.
 */
export function bestEpochSeries(curves: TrainingCurves, best: BestEpoch | undefined): ChartSeries[] {
  const point = best && curves.valAp75.find((p) => p[0] === best.epoch);
  if (!best || !point) return [];
  return [{
    name: `best (epoch ${best.epoch}, by ${SELECT_LABEL[best.metric]})`,
    color: [0, 0, 0],
    points: [point],
    ring: true,
  }];
}
