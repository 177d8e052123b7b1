#!/usr/bin/env bash
# Rebuilds the default head, models/heads/default.json, that `classify` uses unless told otherwise:
# fitted on the shared dev speeches plus our own training examples (data/train_examples.csv) and
# the taxonomy's example statements; prints the cross-validated figures of every variant tried.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cargo build --release --locked --quiet
mkdir -p models/heads out
./target/release/parlscan fit --train ../shared/data/dev.csv --examples data/train_examples.csv --repeats 5 \
  -o models/heads/default.json | tee out/default-head-cv.txt
