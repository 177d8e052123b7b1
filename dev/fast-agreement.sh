#!/usr/bin/env bash
# How often `classify --fast` (bf16 or int8) labels speeches as the exact default does: labels
# ../shared/data/dev.csv and data/sample_speeches.csv (texts the near-tie margins were not set on;
# dev/derive-margins.py sets them on data/train_examples.csv and a synthetic corpus) both ways and
# prints, per file and in all, the share of speeches with every label identical (on-topic decision,
# topic set, stance), of per-(speech, topic) decisions identical, of stances identical, and the
# largest score difference. Figures only; tests/integration/onnx.rs holds --fast to 98% of speeches.
#
#   bash dev/fast-agreement.sh                       # --fast against the default
#   OTHER="--fast=int8" bash dev/fast-agreement.sh   # int8 (what --fast runs without native bf16)
#   OTHER="--engine torch" bash dev/fast-agreement.sh # libtorch fp32 against the default
#   THREADS=1 bash dev/fast-agreement.sh a.csv b.csv # other inputs, one thread
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --locked --quiet
inputs=("$@")
[ ${#inputs[@]} -gt 0 ] || inputs=(../shared/data/dev.csv data/sample_speeches.csv)
other=${OTHER:---fast}
out=out/agreement
mkdir -p "$out"
pairs=()
for input in "${inputs[@]}"; do
  name=$(basename "$input" .csv)
  # shellcheck disable=SC2086 # $other is a list of flags
  target/release/parlscan classify "$input" -o "$out/$name.default.csv" --threads "${THREADS:-0}" --quiet
  target/release/parlscan classify "$input" -o "$out/$name.other.csv" --threads "${THREADS:-0}" --quiet $other
  pairs+=("$out/$name.default.csv" "$out/$name.other.csv")
done
echo "default against: $other"
exec python3 dev/agreement.py "${pairs[@]}"
