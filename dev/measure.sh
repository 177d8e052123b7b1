#!/usr/bin/env bash
# Measures `parlscan classify` throughput and peak memory on the dev speeches and on synthetic
# corpora (default 2,000 speeches; pass sizes as arguments, e.g. `dev/measure.sh 2000 20000`).
# Prints speeches/s, word-pieces/s and peak RSS for each. Figures, not assertions.
# PARLSCAN_BIN runs another build (e.g. a copy, so rebuilding meanwhile does not change it);
# PARLSCAN_ARGS adds classify flags (e.g. "--threads 1").
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
[ -n "${PARLSCAN_BIN:-}" ] || cargo build --release --locked --quiet
export PARLSCAN_BIN=${PARLSCAN_BIN:-target/release/parlscan} PARLSCAN_ARGS=${PARLSCAN_ARGS:-}
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(2000)
mkdir -p out/measure
corpora=()
[ -f ../shared/data/dev.csv ] && corpora+=(../shared/data/dev.csv)
for n in "${sizes[@]}"; do
  f=out/measure/corpus-$n.csv
  [ -f "$f" ] || python3 dev/make_corpus.py "$n" "$f"
  corpora+=("$f")
done
printf '%-34s %9s %9s %12s %12s %10s\n' corpus speeches wall_s speeches/s wordpieces/s peak_MiB
for c in "${corpora[@]}"; do
  python3 - "$c" <<'PY'
import os, re, resource, subprocess, sys, time
corpus = sys.argv[1]
start = time.monotonic()
p = subprocess.run([os.environ["PARLSCAN_BIN"], "classify", corpus, "-o", "out/measure/labels.csv",
                    *os.environ["PARLSCAN_ARGS"].split()],
                   stderr=subprocess.PIPE, text=True)
wall = time.monotonic() - start
if p.returncode not in (0, 1):
    sys.exit(f"parlscan failed on {corpus}:\n{p.stderr}")
m = re.search(r"(\d+) speeches .*?, (\d+) word-pieces", p.stderr)
speeches, pieces = int(m.group(1)), int(m.group(2))
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{os.path.basename(corpus):<34} {speeches:>9} {wall:>9.1f} {speeches / wall:>12.1f} {pieces / wall:>12.0f} {peak:>10.0f}")
PY
done
