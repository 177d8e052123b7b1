#!/usr/bin/env bash
# Sets --fast's near-tie margins (NearTie in src/labeller.rs) on the derivation texts and prints
# what they give there: labels data/train_examples.csv and a 400-speech synthetic corpus
# (dev/make_corpus.py, fixed seed) with the exact default engine, with each fast engine alone
# (--no-rescore) and with each fast engine rescoring near ties; then prints how far each kind of
# score moved (dev/derive-margins.py: the margins are the 99.5th percentiles, rounded up), the share
# of texts rescored (NearTie::share) and the agreement of rescored labels with the exact ones.
# Agreement on texts the margins never saw is dev/fast-agreement.sh's job.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --locked --quiet
out=out/margins
mkdir -p "$out"
[ -f "$out/corpus-400.csv" ] || python3 dev/make_corpus.py 400 "$out/corpus-400.csv"
run() { target/release/parlscan classify "$1" -o "$2" --threads "${THREADS:-0}" --quiet "${@:3}"; }
for input in data/train_examples.csv "$out/corpus-400.csv"; do
  name=$(basename "$input" .csv)
  run "$input" "$out/$name.exact.csv"
  for kind in int8 bf16; do
    run "$input" "$out/$name.$kind.csv" --fast=$kind --no-rescore
    run "$input" "$out/$name.$kind-r.csv" --fast=$kind
  done
done
for kind in int8 bf16; do
  echo "== --fast=$kind alone against the exact engine"
  python3 dev/derive-margins.py "$out/train_examples.exact.csv" "$out/train_examples.$kind.csv" \
    "$out/corpus-400.exact.csv" "$out/corpus-400.$kind.csv"
  python3 - "$out" "$kind" <<'PY'
import json, sys
out, kind = sys.argv[1:]
counts = [json.load(open(f"{out}/{n}.{kind}-r.csv.manifest.json"))["counts"] for n in ("train_examples", "corpus-400")]
rescored, scored = sum(c["rescored"] for c in counts), sum(c["scored"] for c in counts)
print(f"  rescored by --fast={kind}: {rescored} of {scored} ({rescored / scored:.2f})")
PY
  echo "== --fast=$kind (near ties rescored) against the exact engine, on the derivation texts"
  python3 dev/agreement.py "$out/train_examples.exact.csv" "$out/train_examples.$kind-r.csv" \
    "$out/corpus-400.exact.csv" "$out/corpus-400.$kind-r.csv"
done
