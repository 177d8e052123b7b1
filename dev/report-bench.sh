#!/usr/bin/env bash
# Benchmark of `parlscan report`: makes a synthetic classify-shaped CSV of ROWS rows
# (default 1,000,000; each with a TEXT_CHARS-character text, default 400), summarises it, and
# prints the wall time, the peak RSS and the CPU. The target is a peak RSS under 300 MB at a
# million rows. Not a test: figures depend on the machine. Usage: dev/report-bench.sh [WORKDIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
rows=${ROWS:-1000000}
text_chars=${TEXT_CHARS:-400}
bin="$root/target/release/parlscan"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
mkdir -p "$work"
csv="$work/labelled-$rows.csv"
if [ ! -s "$csv" ]; then
  echo "writing $rows rows to $csv ..." >&2
  python3 - "$csv" "$rows" "$text_chars" <<'PY'
import csv, random, sys
path, rows, text_chars = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(19)
topics = ["encryption", "interception", "communications_data", "bulk_powers", "equipment_interference", "oversight",
          "tech_companies", "national_security", "privacy_rights", "online_safety", "physical_surveillance"]
stances = ["pro_powers", "anti_powers", "mixed", "neutral"]
parties = ["Conservative", "Labour", "Liberal Democrat", "SNP", "Crossbench", "Green", "DUP", "Plaid Cymru"]
words = "the bill would let the secretary of state order a company to remove electronic protection from its service".split()
header = ["id", "date", "speaker", "party", "text", "on_topic", "topics", "top_topic"] + [f"topic_{t}" for t in topics] + \
    ["stance", "stance_score"] + [f"stance_{s}" for s in stances] + ["evidence", "n_words", "n_chunks", "status"]
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    for i in range(rows):
        r = random.random()
        date = "" if r < 0.01 else "n/a" if r < 0.012 else f"{random.randint(2010, 2020)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
        text = " ".join(random.choice(words) for _ in range(text_chars // 5))[:text_chars]
        base = [f"S{i:07d}", date, f"Speaker {random.randint(1, 5000)}", random.choice(parties), text]
        if random.random() < 0.005:
            w.writerow(base + [""] * (len(header) - len(base) - 3) + ["0", "0", "empty"])
            continue
        scores = [round(random.random(), 4) for _ in topics]
        on = random.random()
        listed = [t for t, s in zip(topics, scores) if s > 0.8] if on >= 0.5 else []
        if on >= 0.5 and not listed:
            listed = [topics[scores.index(max(scores))]]
        listed.sort(key=lambda t: -scores[topics.index(t)])
        p = [random.random() for _ in stances]
        p = [x / sum(p) for x in p]
        stance = stances[p.index(max(p))] if on >= 0.5 else "none"
        probs = [round(on * x, 4) for x in p]
        w.writerow(base + [f"{on:.4f}", ";".join(listed), listed[0] if listed else ""] + [f"{s:.4f}" for s in scores] +
                   [stance, f"{probs[0] - probs[1]:.4f}"] + [f"{x:.4f}" for x in probs] +
                   [text[:120], str(text_chars // 5), "1", "ok"])
PY
fi
ls -l "$csv" >&2
out="$work/report.html"
/usr/bin/time -v "$bin" report "$csv" -o "$out" 2>"$work/time.txt" || { cat "$work/time.txt" >&2; exit 1; }
grep -E "^parlscan:" "$work/time.txt" || true
wall=$(grep "Elapsed (wall clock)" "$work/time.txt" | awk '{print $NF}')
rss_kb=$(grep "Maximum resident set size" "$work/time.txt" | awk '{print $NF}')
echo "rows:        $rows ($(du -h "$csv" | cut -f1) CSV)"
echo "wall time:   $wall"
echo "peak RSS:    $((rss_kb / 1024)) MB"
echo "page:        $(du -h "$out" | cut -f1)"
echo "CPU:         $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
