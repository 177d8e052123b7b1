#!/usr/bin/env python3
"""Measures label-quality levers for issue #3 outside the Rust `fit`, with the same model.

Cross-validates (5 folds grouped by debate over ../shared/data/dev.csv; our data/train_examples.csv
and the taxonomy's topic examples join every training fold and are never scored) per-topic
logistic heads on all-MiniLM-L6-v2 embeddings, and prints topic micro-F1 for: the number of
training examples and of real dev speeches (two learning curves), sentence-level topic scoring (each sentence embedded alone,
the head applied to it, combined with the speech's score), sentence-pooled features, and a cap on
the number of topics per speech. Figures, not assertions. Runs in .venv-ref (scripts/reference-venv.sh):

    .venv-ref/bin/python scripts/label-levers.py

With `repeated`, it instead repeats the cross-validation over 5 fold assignments (the same split by
debate, dealt with seeds 0-4; seed 0 is the one above) for the sentence lever and for softer class
weights, and prints each setting's topic micro-F1 per assignment and their mean:

    .venv-ref/bin/python scripts/label-levers.py repeated
"""
import csv, os, re, sys, tomllib, warnings

import numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOPICS = [t["name"] for t in tomllib.load(open("data/taxonomy.toml", "rb"))["topic"]]


def debate(source):
    m = re.search(r"debate id (\d+)", source)
    if m:
        return "debate id " + m.group(1)
    if "/debates/" in source:
        return re.split(r"[/?#]", source.split("/debates/")[1])[0]
    return source.split("#")[0]


def sentences(text):
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“‘(])", text) if len(s.split()) >= 4]
    return parts or [text]


def load():
    rows = []
    for path in ["../shared/data/dev.csv", "data/train_examples.csv"]:
        for r in csv.DictReader(open(path, encoding="utf-8")):
            rows.append(dict(dev=path.endswith("dev.csv"), source=r["source"], text=r["text"],
                             topics=[t for t in r["topics"].split(";") if t], on=r["stance"] != "none"))
    taxonomy = tomllib.load(open("data/taxonomy.toml", "rb"))
    tax_topic = [(TOPICS.index(t["name"]), e) for t in taxonomy["topic"] for e in t["examples"]]
    tax_off = list(taxonomy["off_topic"]["examples"])
    return rows, tax_topic, tax_off


class Data:
    def __init__(self):
        self.rows, tax_topic, tax_off = load()
        model = SentenceTransformer("models/all-MiniLM-L6-v2", device="cpu")
        model.max_seq_length = 256
        enc = lambda texts: model.encode(texts, batch_size=32, normalize_embeddings=True)
        self.emb = enc([r["text"] for r in self.rows])
        sents = [sentences(r["text"]) for r in self.rows]
        self.owner = np.array([i for i, ss in enumerate(sents) for _ in ss])
        self.semb = enc([s for ss in sents for s in ss])
        self.tax_t = np.array([t for t, _ in tax_topic])
        self.tax_temb = enc([e for _, e in tax_topic])
        self.tax_off = enc(tax_off)
        self.Y = np.array([[t in r["topics"] for t in TOPICS] for r in self.rows])
        self.on = np.array([r["on"] for r in self.rows])
        self.dev = [i for i, r in enumerate(self.rows) if r["dev"]]
        self.extra = [i for i, r in enumerate(self.rows) if not r["dev"]]
        self.deal(0)

    def deal(self, seed):
        """Assigns debates to 5 folds: sorted, shuffled with `seed`, dealt round-robin."""
        groups = sorted({debate(self.rows[i]["source"]) for i in self.dev})
        np.random.RandomState(seed).shuffle(groups)
        fold = {g: k % 5 for k, g in enumerate(groups)}
        self.fold = np.array([fold[debate(self.rows[i]["source"])] for i in self.dev])


def f1(tp, fp, fn):
    return 2 * tp / max(1, 2 * tp + fp + fn)


def class_weight(y, power):
    """"balanced" (power None), or the positive class weighted (negatives / positives) ** power."""
    if power is None:
        return "balanced"
    return {0: 1.0, 1: ((len(y) - y.sum()) / max(1, y.sum())) ** power}


def cross_validate(d, C=3.0, extra=None, features=None, sentence=None, w=0.5, dev_share=1.0, seed=0, power=None):
    """Out-of-fold topic probabilities and on-topic probabilities of the dev rows; each fold trains
    on `dev_share` of its training dev speeches (a random subset, `seed`); topic heads' class
    weights as `class_weight(power)`."""
    extra = d.extra if extra is None else extra
    feat = features or (lambda i: d.emb[i])
    tax_temb = d.tax_temb if features is None else np.array([features(None, e) for e in d.tax_temb])
    tax_off = d.tax_off if features is None else np.array([features(None, e) for e in d.tax_off])
    X_all = np.array([feat(i) for i in range(len(d.rows))]) if features is None else np.array([features(i, None) for i in range(len(d.rows))])
    probs = np.zeros((len(d.dev), len(TOPICS)))
    on = np.zeros(len(d.dev))
    for k in range(5):
        train_dev = [d.dev[j] for j in range(len(d.dev)) if d.fold[j] != k]
        if dev_share < 1.0:
            rng = np.random.RandomState(seed * 10 + k)
            train_dev = list(rng.choice(train_dev, int(round(dev_share * len(train_dev))), replace=False))
        train = train_dev + list(extra)
        test = [j for j in range(len(d.dev)) if d.fold[j] == k]
        X = X_all[train]
        Xo = np.vstack([X, tax_off, tax_temb])
        yo = np.concatenate([d.on[train], np.zeros(len(tax_off)), np.ones(len(tax_temb))])
        head = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(Xo, yo)
        on[test] = head.predict_proba(X_all[[d.dev[j] for j in test]])[:, 1]
        for t in range(len(TOPICS)):
            Xt = np.vstack([X, tax_temb, tax_off])
            yt = np.concatenate([d.Y[train, t], d.tax_t == t, np.zeros(len(tax_off))]).astype(int)
            m = LogisticRegression(C=C, class_weight=class_weight(yt, power), max_iter=3000).fit(Xt, yt)
            for j in test:
                i = d.dev[j]
                p = m.predict_proba(X_all[i:i + 1])[0, 1]
                if sentence:
                    ps = np.sort(m.predict_proba(d.semb[d.owner == i])[:, 1])
                    p = {"max": max(p, ps[-1]), "mix": (1 - w) * p + w * ps[-1],
                         "top2": (1 - w) * p + w * ps[-2:].mean()}[sentence]
                probs[j, t] = p
    return probs, on


def micro_f1(d, probs, on, threshold=0.5, cap=None):
    gold = d.Y[d.dev]
    pred = (probs >= threshold) & (on[:, None] >= 0.5)
    if cap:
        pred &= np.argsort(-probs, 1).argsort(1) < cap
    return f1((pred & gold).sum(), (pred & ~gold).sum(), (~pred & gold).sum())


def repeated(d):
    print("topic micro-F1 over 5 fold assignments (seeds 0-4), sentence lever = 0.5 speech + 0.5 mean of")
    print("the best two sentences; class weights of the topic heads: balanced, or positives x (neg/pos)^p")
    settings = [(C, sentence, power) for C in [1, 3, 10] for sentence in [None, "top2"] for power in [None, 0.5, 0.75]]
    scores = {s: [] for s in settings}
    for seed in range(5):
        d.deal(seed)
        for C, sentence, power in settings:
            scores[(C, sentence, power)].append(micro_f1(d, *cross_validate(d, C=C, sentence=sentence, power=power)))
    d.deal(0)
    print(f"  {'C':>3} {'sentences':<10} {'class weights':<14} {'mean':>6}   per assignment")
    for (C, sentence, power), v in scores.items():
        weights = "balanced" if power is None else f"(neg/pos)^{power}"
        print(f"  {C:>3} {'yes' if sentence else 'no':<10} {weights:<14} {np.mean(v):6.3f}   " + " ".join(f"{x:.3f}" for x in v))


def main():
    d = Data()
    if sys.argv[1:] == ["repeated"]:
        return repeated(d)
    print(f"{len(d.dev)} dev speeches, {len(d.extra)} training examples, {len(d.tax_t)} taxonomy topic examples\n")
    print("learning curve (C=3; mean of 3 random subsets below the full set): examples -> topic micro-F1")
    for n in [0, 130, 265, 400, len(d.extra)]:
        seeds = range(3) if 0 < n < len(d.extra) else [0]
        scores = []
        for s in seeds:
            ids = list(np.random.RandomState(s).choice(d.extra, n, replace=False)) if n else []
            scores.append(micro_f1(d, *cross_validate(d, extra=ids)))
        print(f"  {n:4d}  {np.mean(scores):.3f}")
    print("\nlearning curve over real speeches (C=3, all training examples; mean of 5 random subsets below the")
    print("full set): share of each fold's training dev speeches (about 60) -> topic micro-F1")
    for share in [0.25, 0.5, 0.75, 1.0]:
        seeds = range(5) if share < 1.0 else [0]
        scores = [micro_f1(d, *cross_validate(d, dev_share=share, seed=s)) for s in seeds]
        print(f"  {share:4.2f}  {np.mean(scores):.3f}  (range {min(scores):.3f}-{max(scores):.3f})")
    print("\nlever (C=3)                                               topic micro-F1")
    base = cross_validate(d)
    print(f"  speech embedding (what fit does)                          {micro_f1(d, *base):.3f}")
    for name, kw in [("max(speech, best sentence)", dict(sentence="max")),
                     ("0.7 speech + 0.3 best sentence", dict(sentence="mix", w=0.3)),
                     ("0.5 speech + 0.5 best sentence", dict(sentence="mix", w=0.5)),
                     ("0.5 speech + 0.5 mean of best two sentences", dict(sentence="top2", w=0.5))]:
        print(f"  sentence-level: {name:<42}{micro_f1(d, *cross_validate(d, **kw)):.3f}")
    smax = np.array([d.semb[d.owner == i].max(0) for i in range(len(d.rows))])
    smean = np.array([d.semb[d.owner == i].mean(0) for i in range(len(d.rows))])
    pooled = {
        "embedding + max over sentences": lambda i, e: np.hstack([d.emb[i], smax[i]]) if e is None else np.hstack([e, e]),
        "embedding + mean over sentences": lambda i, e: np.hstack([d.emb[i], smean[i]]) if e is None else np.hstack([e, e]),
    }
    for name, fn in pooled.items():
        print(f"  features: {name:<48}{micro_f1(d, *cross_validate(d, features=fn)):.3f}")
    for cap in [2, 3, 4]:
        print(f"  at most {cap} topics per speech                               {micro_f1(d, *base, cap=cap):.3f}")


if __name__ == "__main__":
    sys.exit(main())
