"""Writes a deterministic synthetic corpus of N speech-like texts for benchmarks.

Sentences are drawn (seeded) from our own sample speeches and taxonomy examples and strung into
speeches of 20 to 1,500 words (most short, a long tail, as in Hansard).

    python3 dev/make_corpus.py 2000 out/corpus-2000.csv [--seed 7]
"""
import argparse
import csv
import pathlib
import random
import re
import tomllib

root = pathlib.Path(__file__).resolve().parent.parent

parser = argparse.ArgumentParser()
parser.add_argument("n", type=int)
parser.add_argument("output")
parser.add_argument("--seed", type=int, default=7)
args = parser.parse_args()

sentences = []
with open(root / "data" / "sample_speeches.csv", newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", row["text"]) if len(s.split()) >= 4]
with open(root / "data" / "taxonomy.toml", "rb") as f:
    taxonomy = tomllib.load(f)
for part in [taxonomy["on_topic"], taxonomy["off_topic"], *taxonomy["topic"], *taxonomy["stance"]]:
    sentences += part["examples"]

rng = random.Random(args.seed)
pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
with open(args.output, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["id", "text"])
    for i in range(args.n):
        # Log-uniform length between 20 and 1,500 words.
        target = int(round(20 * (1500 / 20) ** rng.random()))
        words, parts = 0, []
        while words < target:
            s = rng.choice(sentences)
            parts.append(s)
            words += len(s.split())
        w.writerow([f"B{i + 1:06d}", " ".join(parts)])
