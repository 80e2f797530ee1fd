#!/usr/bin/env bash
# Runs line K of a command file of `deno task experiments --plan DIR` (each line one job) and exits with its
# status: the entry point of a Slurm array task or a Kubernetes Indexed Job pod.
#
#   examples/run-line.sh COMMANDS_FILE [K]
#
# K is 1-based. Without it, K comes from the scheduler that started this process:
#   Slurm job array:          K = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1
#                             (task ids start at the --array offset: --array=0-9 and --array=1-10 both give K 1..10)
#   Kubernetes Indexed Job:   K = JOB_COMPLETION_INDEX + 1   (Kubernetes sets it, 0-based)
# The line itself starts with `cd <project folder> &&`, so it runs from any folder of a machine that has the
# project at the same path as the machine that made the plan.
set -euo pipefail

file=${1:?usage: run-line.sh COMMANDS_FILE [K]}
if [ $# -ge 2 ]; then
  k=$2
elif [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  k=$(((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:?set by Slurm in array tasks}) / ${SLURM_ARRAY_TASK_STEP:-1} + 1))
elif [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  k=$((JOB_COMPLETION_INDEX + 1))
else
  echo "run-line.sh: give K, or run in a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)" >&2
  exit 2
fi
line=$(sed -n "${k}p" "$file")
if [ -z "$line" ]; then
  echo "run-line.sh: $file has no line $k ($(wc -l <"$file") lines)" >&2
  exit 2
fi
echo "run-line.sh: $file line $k: $line" >&2
exec bash -c "$line"
