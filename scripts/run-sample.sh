#!/usr/bin/env bash
# Sets everything up (idempotent), builds parlscan and labels the bundled sample speeches.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cargo build --release --locked --quiet
mkdir -p out
./target/release/parlscan classify data/sample_speeches.csv -o out/sample_labels.csv
echo "labelled CSV: $root/out/sample_labels.csv"
