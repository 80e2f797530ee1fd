#!/usr/bin/env bash
# An experiment grid on a Slurm cluster: makes the plan, submits one job array per command file (each level
# after the previous one has ended), then the collect step.
#
#   examples/slurm/grid.sh CONFIG PLAN_DIR [extra flags for deno task experiments --plan, e.g. --workers 4]
#
# Run it on a login node from the project folder, with PLAN_DIR on storage every node shares (see
# examples/slurm/line.sbatch for what each node needs). Levels wait with `afterany`: a failed job does not stop
# the next level; its dependants fail at once, naming it, and the collect step names every job that failed or
# never finished (and exits 1). Re-running this script after fixing a problem runs only the jobs not done.
set -euo pipefail
config=${1:?usage: grid.sh CONFIG PLAN_DIR [flags]}
plan=${2:?usage: grid.sh CONFIG PLAN_DIR [flags]}
shift 2
repo=$(cd "$(dirname "$0")/../.." && pwd)
config=$(realpath "$config")
mkdir -p "$plan" && plan=$(cd "$plan" && pwd) # absolute: deno task runs in the project folder
cd "$repo"
deno task -q experiments --config "$config" --plan "$plan" "$@"
after=""
for ((level = 1; ; level++)); do
  file="$plan/commands-$level.txt"
  [ -f "$file" ] || break
  n=$(wc -l <"$file")
  id=$(sbatch --parsable ${after:+--dependency=afterany:$after} --array="1-$n" \
    --export="ALL,SSD_REPO=$repo" "$repo/examples/slurm/line.sbatch" "$file")
  echo "submitted $file ($n jobs) as array $id"
  after=$id
done
id=$(sbatch --parsable --dependency="afterany:$after" --job-name=ssd-collect --output="$plan/collect-%j.out" \
  --wrap="cd $(printf %q "$repo") && deno task experiments --collect $(printf %q "$plan")")
echo "collect: job $id (then see $plan/results.md, $plan/report.html)"
