#!/usr/bin/env bash
# An experiment grid with GNU parallel, on this machine or over ssh hosts: makes the plan, runs its command files
# in order (each line one job, JOBS at a time per machine), then collects.
#
#   examples/parallel/grid.sh CONFIG PLAN_DIR [JOBS [SSHLOGINFILE]] [-- extra flags for --plan, e.g. --workers 1]
#
# On one machine (SSHLOGINFILE absent) the jobs share its cores: give each a share, e.g. on 8 cores JOBS=4 with
# `-- --workers 2` (2 data-parallel workers per job), or JOBS=2 with the default engine (all cores per job) to
# overlap one job's start-up and scoring with another's training.
# Over ssh (SSHLOGINFILE: one host a line, `N/host` for N jobs at a time there, `:` for this machine), every host
# needs the project at the same path as here (the lines `cd` there; ssh runs them in a non-interactive shell,
# whose PATH must reach `deno`), passwordless ssh, and PLAN_DIR on storage all of them share (NFS, …): each job
# writes its own run folder and jobs/<name>/ there, and --collect reads them.
set -euo pipefail
config=${1:?usage: grid.sh CONFIG PLAN_DIR [JOBS [SSHLOGINFILE]] [-- flags]}
plan=${2:?usage: grid.sh CONFIG PLAN_DIR [JOBS [SSHLOGINFILE]] [-- flags]}
shift 2
jobs=1
hosts=()
if [ $# -gt 0 ] && [ "$1" != "--" ]; then jobs=$1 && shift; fi
if [ $# -gt 0 ] && [ "$1" != "--" ]; then hosts=(--sshloginfile "$1") && shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
config=$(realpath "$config")
mkdir -p "$plan" && plan=$(cd "$plan" && pwd) # absolute: deno task runs in the project folder
(cd "$repo" && deno task -q experiments --config "$config" --plan "$plan" "$@")
status=0
for ((level = 1; ; level++)); do
  file="$plan/commands-$level.txt"
  [ -f "$file" ] || break
  # --halt never: a failed job does not stop the others; its dependants fail at once, naming it
  parallel --will-cite -j "$jobs" "${hosts[@]}" --halt never <"$file" || status=$?
done
(cd "$repo" && deno task experiments --collect "$plan") || status=$?
exit "$status"
