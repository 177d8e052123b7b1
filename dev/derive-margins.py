"""How far a fast engine moves scores against the exact default, for setting `--fast`'s near-tie
margins (`NearTie` in src/labeller.rs). Reads pairs of `parlscan classify` outputs of the same input,
the exact engine's and the fast engine's with `--no-rescore`, and prints, per kind of score (on_topic,
the stance probabilities, the topic scores), the largest move and high quantiles over all speeches.

The margins are set on the derivation files (data/train_examples.csv and a synthetic corpus) and
agreement is reported on others (dev.csv and data/sample_speeches.csv): dev/fast-agreement.sh.
The share of speeches a kind rescores (`NearTie::share`) is `counts.rescored` in the manifests of
`parlscan classify FILE --fast=KIND` over the derivation files.

Usage: python3 dev/derive-margins.py EXACT1.csv FAST1.csv [EXACT2.csv FAST2.csv ...]
"""
import csv
import sys


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def main():
    paths = sys.argv[1:]
    if not paths or len(paths) % 2:
        sys.exit(__doc__)
    moves = {"on_topic": [], "stance": [], "stance top-2 gap": [], "topic": []}
    for exact_path, fast_path in zip(paths[::2], paths[1::2]):
        h, exact = read(exact_path)
        h2, fast = read(fast_path)
        assert h == h2 and len(exact) == len(fast), f"{exact_path} and {fast_path} differ in shape"
        col = {name: i for i, name in enumerate(h)}
        stance = [c for c in h if c.startswith("stance_") and c != "stance_score" and c != "stance_evidence"]
        topics = [c for c in h if c.startswith("topic_")]
        for a, b in zip(exact, fast):
            if a[col["status"]] != "ok":
                continue
            num = lambda row, c: float(row[col[c]])
            moves["on_topic"].append(abs(num(a, "on_topic") - num(b, "on_topic")))
            moves["stance"].append(max(abs(num(a, c) - num(b, c)) for c in stance))
            gap = lambda row: (lambda xs: xs[0] - xs[1])(sorted((num(row, c) for c in stance), reverse=True))
            moves["stance top-2 gap"].append(abs(gap(a) - gap(b)))
            moves["topic"].append(max(abs(num(a, c) - num(b, c)) for c in topics))
    n = len(moves["on_topic"])
    print(f"{n} speeches")
    for kind, xs in moves.items():
        xs = sorted(xs)
        q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))]
        print(f"  {kind:<17} max {xs[-1]:.4f}  99.5% {q(0.995):.4f}  99% {q(0.99):.4f}  95% {q(0.95):.4f}  median {q(0.5):.4f}")


if __name__ == "__main__":
    main()
