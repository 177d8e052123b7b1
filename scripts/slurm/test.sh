#!/usr/bin/env bash
# The sharded mode on a real one-node Slurm cluster (../shared/tools/slurm-single-node.sh): a
# 4-shard array job plus its merge equals the single-machine run byte for byte; a missing shard is
# refused by merge until it is resubmitted. Needs root (it installs and starts Slurm).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
tool=${SLURM_TOOL:-$root/../shared/tools/slurm-single-node.sh}
[ -f "$tool" ] || { echo "slurm test: $tool not found" >&2; exit 1; }
passed=0; failed=0
check() { # check NAME CMD...: run a check, count it
  if "$@"; then passed=$((passed + 1)); echo "slurm test: ok: $name"; else failed=$((failed + 1)); echo "slurm test: FAILED: $name"; fi
}

cargo build --release --locked --quiet
bash "$tool" install
# A job whose dependency failed is cancelled rather than left pending for ever.
SLURM_CI_EXTRA_CONF="DependencyParameters=kill_invalid_depend" bash "$tool" up
trap 'bash "$tool" down >/dev/null 2>&1 || true' EXIT

work=$(mktemp -d)
dev=../shared/data/dev.csv
# The shards below run with one thread each (CPUS=1); the model's thread count moves last bits.
target/release/parlscan classify "$dev" -o "$work/single.csv" --quiet --threads 1

export OUT_DIR=$work/slurm SHARDS=4 CPUS=1 MEM=1G WAIT=1 TIME=00:20:00
timeout 900 bash scripts/slurm/classify.sbatch "$dev"
name="4-shard array + merge equals the single run"; check cmp "$work/single.csv" "$OUT_DIR/labelled.csv"
echo "--- what the 4-shard run printed (merge log):"; cat "$OUT_DIR/merge.log"

# Lose a shard: merge refuses, naming it; resubmit that shard alone: merge equals the single run.
rm "$OUT_DIR/part-2.csv" "$OUT_DIR/part-2.csv.manifest.json"
refused() { ! target/release/parlscan merge "$OUT_DIR"/part-*.csv -o "$work/m.csv" 2>"$work/err" && grep -q "missing shards: 2/4" "$work/err"; }
name="merge refuses a missing shard"; check refused
TASKS=2 timeout 900 bash scripts/slurm/classify.sbatch "$dev"
name="after resubmitting shard 2 the merge equals the single run"; check cmp "$work/single.csv" "$OUT_DIR/labelled.csv"

echo "slurm: $passed passed, $failed failed"
[ "$failed" = 0 ]
