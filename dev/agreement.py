"""Compares pairs of `parlscan classify` outputs of the same input (see dev/fast-agreement.sh).

Usage: python3 dev/agreement.py A1.csv B1.csv [A2.csv B2.csv ...]
A speech's labels: its on-topic decision (stance is `none` exactly when it is not on topic), its
topic set (`topics`), its stance. Scores: on_topic, every topic_<label>, stance_score and the four
stance_<class> columns.
"""
import csv
import sys

STANCE_CLASSES = ("pro_powers", "anti_powers", "mixed", "neutral")


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    # Label columns come after passthrough columns of the same name: take the last one.
    col = {name: i for i, name in enumerate(header)}
    return header, col, body


def compare(a_path, b_path):
    ha, ca, a = read(a_path)
    hb, cb, b = read(b_path)
    if ha != hb or len(a) != len(b):
        sys.exit(f"{a_path} and {b_path} do not have the same columns and rows")
    topics = [h[len("topic_"):] for h in ha if h.startswith("topic_")]
    scores = ["on_topic", "stance_score"] + [h for h in ha if h.startswith("topic_") or h in ("stance_" + c for c in STANCE_CLASSES)]
    n = rows_same = on_same = stance_same = decisions = decisions_same = 0
    max_diff, where = 0.0, ""
    for ra, rb in zip(a, b):
        if ra[ca["status"]] != "ok" or rb[cb["status"]] != "ok":
            continue
        n += 1
        ta = set(filter(None, ra[ca["topics"]].split(";")))
        tb = set(filter(None, rb[cb["topics"]].split(";")))
        sa, sb = ra[ca["stance"]], rb[cb["stance"]]
        on_same += (sa == "none") == (sb == "none")
        stance_same += sa == sb
        rows_same += ta == tb and sa == sb
        for t in topics:
            decisions += 1
            decisions_same += (t in ta) == (t in tb)
        for s in scores:
            d = abs(float(ra[ca[s]]) - float(rb[cb[s]]))
            if d > max_diff:
                max_diff, where = d, f"{s} of {ra[ca['id']] if 'id' in ca else '?'}"
    return n, rows_same, on_same, stance_same, decisions, decisions_same, max_diff, where


def show(name, r):
    n, rows_same, on_same, stance_same, decisions, decisions_same, max_diff, where = r
    pct = lambda x, d: f"{100 * x / max(d, 1):6.2f}% ({x}/{d})"
    print(f"{name}\n  speeches with every label identical {pct(rows_same, n)}\n"
          f"  on-topic decisions identical        {pct(on_same, n)}\n"
          f"  stances identical                   {pct(stance_same, n)}\n"
          f"  (speech, topic) decisions identical {pct(decisions_same, decisions)}\n"
          f"  largest score difference            {max_diff:.4f}{f' ({where})' if where else ''}")


def main():
    paths = sys.argv[1:]
    if not paths or len(paths) % 2:
        sys.exit(__doc__)
    total = [0] * 6 + [0.0, ""]
    for a, b in zip(paths[::2], paths[1::2]):
        r = compare(a, b)
        show(a.rsplit("/", 1)[-1].removesuffix(".default.csv"), r)
        total = [x + y for x, y in zip(total[:6], r[:6])] + ([r[6], r[7]] if r[6] > total[6] else total[6:])
    if len(paths) > 2:
        show("all", total)


if __name__ == "__main__":
    main()
