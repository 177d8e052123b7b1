#!/usr/bin/env bash
# Shows that a change keeps `classify`'s output byte for byte: labels dev.csv, the sample speeches
# and the format fixtures in every output format, and records or checks the bytes.
#
#   bash dev/same-output.sh record DIR    # with the binary before the change
#   bash dev/same-output.sh check DIR     # with the binary after it: every file must be identical
#
# PARLSCAN_BIN picks the binary (default target/release/parlscan); THREADS (default 2) is passed as
# --threads, since the model's thread count moves last bits. The labelled dev set is read from
# ../shared/data/dev.csv when it is there. Manifests are left out (they hold times and paths);
# rejects files are compared.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mode=${1:-}
dir=${2:-}
case "$mode" in record|check) ;; *) echo "usage: $0 record|check DIR" >&2; exit 64 ;; esac
[ -n "$dir" ] || { echo "usage: $0 record|check DIR" >&2; exit 64; }
bin=${PARLSCAN_BIN:-target/release/parlscan}
threads=${THREADS:-2}
fx=tests/fixtures/formats
inputs=(data/sample_speeches.csv "$fx/speeches.csv" "$fx/speeches.csv.gz" "$fx/speeches.jsonl"
  "$fx/ParlaMint-GB_2016-06-07-commons.txt" "$fx/debates2016-06-07a.xml")
[ -f ../shared/data/dev.csv ] && inputs=(../shared/data/dev.csv "${inputs[@]}")
formats=(csv tsv jsonl parquet labelstudio prodigy doccano)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"
same=0 differ=0
for input in "${inputs[@]}"; do
  name=$(basename "$input")
  for format in "${formats[@]}" excel; do
    out="$work/$name.$format"
    case "$format" in
      excel) args=(--format csv --excel) ;;
      *) args=(--format "$format") ;;
    esac
    set +e
    "$bin" classify "$input" -o "$out" "${args[@]}" --threads "$threads" --quiet
    code=$?
    set -e
    echo "$code" > "$out.exit"
    for f in "$out" "$out.exit" "$out.rejects.csv"; do
      [ -f "$f" ] || continue
      ref="$dir/$(basename "$f")"
      if [ "$mode" = record ]; then
        cp "$f" "$ref"
      elif cmp -s "$f" "$ref"; then
        same=$((same + 1))
      else
        differ=$((differ + 1))
        echo "differs: $(basename "$f")" >&2
      fi
    done
  done
done
if [ "$mode" = record ]; then
  echo "recorded $(ls "$dir" | wc -l) files in $dir"
else
  # A file the reference has and this run did not write counts as a difference too.
  for ref in "$dir"/*; do
    [ -f "$work/$(basename "$ref")" ] || { differ=$((differ + 1)); echo "missing: $(basename "$ref")" >&2; }
  done
  echo "$same identical, $differ different"
  [ "$differ" = 0 ]
fi
