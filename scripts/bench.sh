#!/usr/bin/env bash
# Benchmark: `parlscan classify` (the default, --fast, and --engine torch) against two Python
# references on the same model and the same synthetic texts (fixed seed, 20 to 1,500 words),
# alternating, several rounds:
#   - sentence-transformers 3.4.1 on torch 2.4 fp32, encode(batch_size=32);
#   - sentence-transformers 3.4.1 with backend="onnx" (ONNX Runtime 1.22.1, its `onnx` extra).
# It says what it measured on: the CPU model and flags, the engine each side ran, a GEMM peak for
# each arithmetic measured on this machine (fp32 through MKL, oneDNN and ONNX Runtime's MLAS,
# bf16, int8) and the share of that peak each side reached; then the targets (default at least
# 2.0x Python torch and 1.2x Python ONNX, --fast at least 4x Python torch), start-up with a warm
# cache, peak RSS per corpus size, and where a target is out of reach, the limit that stops it.
# Figures only: nothing here fails on a slow machine.
#
#   bash scripts/bench.sh                            # 200 and 2,000 texts, 3 rounds
#   ROUNDS=2 SMALL=100 BIG=500 bash scripts/bench.sh # quicker
#   ROUNDS=1 SMALL=2000 BIG=20000 bash scripts/bench.sh  # memory flat from 2,000 to 20,000?
#   PARLSCAN_ARGS="--threads 1" bash scripts/bench.sh    # flags for every parlscan side
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
echo "GEMM peaks at the model's shapes (dev/gemm_peaks.py):"
.venv-ref/bin/python dev/gemm_peaks.py | tee out/bench/peaks.txt
exec .venv-ref/bin/python dev/bench.py --small "out/bench/corpus-$SMALL.csv" --big "out/bench/corpus-$BIG.csv" \
  --rounds "${ROUNDS:-3}" --parlscan-args="${PARLSCAN_ARGS:-}" --peaks out/bench/peaks.txt
