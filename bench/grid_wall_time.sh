#!/usr/bin/env bash
# Wall time of the fixture grid (fixtures/experiments.fixtures.json: prepare, 4 runs of 1 epoch on 8 images, each
# scored on 4, collect, report) four ways, one round per call, and whether every way's results.json has the
# in-process run's numbers. Run it on an otherwise idle machine (timings of shared cores mean little).
#
#   1 in-process   deno task experiments --config CFG --out DIR                      (one job after another)
#   2 parallel     examples/parallel/grid.sh CFG DIR 2                               (plan, parallel -j 2, collect)
#   3 par-w1       OMP_NUM_THREADS=1 examples/parallel/grid.sh CFG DIR 2 -- --workers 1   (one core per job)
#   4 jobs2-w1     OMP_NUM_THREADS=1 deno task experiments --config CFG --out DIR --jobs 2 --workers 1
set -uo pipefail
cd "$(dirname "$0")/.."
cfg=fixtures/experiments.fixtures.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grid_wall_time-XXXX")
trap 'rm -rf "$tmp"' EXIT
uptime
way() {
  local name=$1 && shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$tmp/$name.log" 2>&1
  local rc=$?
  t1=$(date +%s.%N)
  printf '%-11s exit %d  %6.1f s\n' "$name" "$rc" "$(echo "$t1 - $t0" | bc)"
  [ "$rc" -eq 0 ] || tail -20 "$tmp/$name.log"
}
way in-process deno task -q experiments --config $cfg --out "$tmp/in-process"
way parallel examples/parallel/grid.sh $cfg "$tmp/parallel" 2
way par-w1 env OMP_NUM_THREADS=1 examples/parallel/grid.sh $cfg "$tmp/par-w1" 2 -- --workers 1
way jobs2-w1 env OMP_NUM_THREADS=1 deno task -q experiments --config $cfg --out "$tmp/jobs2-w1" --jobs 2 --workers 1
# the numbers that must not depend on how the grid ran (seconds do)
deno eval '
const numbers = (dir) => JSON.parse(Deno.readTextFileSync(`${dir}/results.json`))
  .map((r) => [r.name, r.ap50, r.ap75, r.ap, r.ar100, r.status]);
const [base, ...others] = Deno.args;
for (const dir of others) {
  const same = JSON.stringify(numbers(dir)) === JSON.stringify(numbers(base));
  console.log(`${dir.replace(/^.*\//, "")}: results.json ${same ? "equals" : "DIFFERS FROM"} the in-process run`);
}
console.log(JSON.stringify(numbers(base)));
' "$tmp/in-process" "$tmp/parallel" "$tmp/par-w1" "$tmp/jobs2-w1"
