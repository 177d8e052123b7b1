#!/usr/bin/env bash
# Benchmark: `parlscan classify`, by default, with --fast (bf16 on a CPU with native bfloat16) and with --fast=int8,
# against the Python reference (sentence-transformers on the same
# model and the same torch 2.4, encode(batch_size=32)) on the same synthetic texts (fixed seed,
# 20 to 1,500 words), alternating, several rounds. Prints texts/s, word-pieces/s, peak RSS, the
# marginal ratio of each parlscan side to Python, and parlscan's GFLOP/s against the machine's peak. Figures only.
#
#   bash dev/bench.sh                 # 200 and 2,000 texts, 3 rounds
#   ROUNDS=5 SMALL=200 BIG=20000 bash dev/bench.sh
#   PARLSCAN_ARGS="--threads 1" bash dev/bench.sh   # flags for both parlscan sides
#   NO_FAST=1 bash dev/bench.sh                      # leave the --fast sides out
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash dev/reference-venv.sh
cargo build --release --locked --quiet
mkdir -p out/bench
SMALL=${SMALL:-200} BIG=${BIG:-2000}
for n in "$SMALL" "$BIG"; do
  [ -f "out/bench/corpus-$n.csv" ] || python3 dev/make_corpus.py "$n" "out/bench/corpus-$n.csv"
done
exec .venv-ref/bin/python dev/bench.py --small "out/bench/corpus-$SMALL.csv" --big "out/bench/corpus-$BIG.csv" \
  --rounds "${ROUNDS:-3}" --parlscan-args="${PARLSCAN_ARGS:-}" ${NO_FAST:+--no-fast}
