#!/usr/bin/env python3
"""Measures label-quality levers for issue #3 outside the Rust `fit`, with the same model.

Cross-validates (5 folds grouped by debate over ../shared/data/dev.csv; our data/train_examples.csv
and the taxonomy's topic examples join every training fold and are never scored) per-topic
logistic heads on all-MiniLM-L6-v2 embeddings, and prints topic micro-F1 for: the number of
training examples and of real dev speeches (two learning curves), sentence-level topic scoring (each sentence embedded alone,
the head applied to it, combined with the speech's score), sentence-pooled features, and a cap on
the number of topics per speech. Figures, not assertions. Runs in .venv-ref (dev/reference-venv.sh):

    .venv-ref/bin/python experiments/label-levers.py

With `repeated`, it instead repeats the cross-validation over 5 fold assignments (the same split by
debate, dealt with seeds 0-4; seed 0 is the one above) for the sentence lever and for softer class
weights, and prints each setting's topic micro-F1 per assignment and their mean:

    .venv-ref/bin/python experiments/label-levers.py repeated

With `lexical`, over the same 5 fold assignments, it mixes a TF-IDF word n-gram head's topic
probabilities into the embedding head's (p = (1 - a) p_embedding + a p_lexical), with and without
listing an on-topic speech's strongest topic when none reaches 0.5 (what `fit` now tries):

    .venv-ref/bin/python experiments/label-levers.py lexical

With `listing`, over the same 5 fold assignments and on the same fused scores (lexical C 30,
words and pairs), it lists at least 0-3 of an on-topic speech's strongest topics, and lists the
topics the training labels give to off-topic speeches (at least 2 and 10% of a topic's labelled
speeches, as `fit` does) on off-topic speeches too:

    .venv-ref/bin/python experiments/label-levers.py listing
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
        self.tax_text = [e for _, e in tax_topic]
        self.tax_off_text = list(tax_off)
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


def lexical_probs(d, C=10.0, ngram=(1, 2)):
    """Out-of-fold topic probabilities of per-topic logistic heads on TF-IDF word n-grams, the
    vocabulary and weights fitted on each fold's training texts only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    probs = np.zeros((len(d.dev), len(TOPICS)))
    texts = [r["text"] for r in d.rows]
    for k in range(5):
        train = [d.dev[j] for j in range(len(d.dev)) if d.fold[j] != k] + list(d.extra)
        test = [j for j in range(len(d.dev)) if d.fold[j] == k]
        docs = [texts[i] for i in train] + d.tax_text + d.tax_off_text
        vec = TfidfVectorizer(ngram_range=ngram, min_df=2, sublinear_tf=True, stop_words="english")
        X = vec.fit_transform(docs)
        Xtest = vec.transform([texts[d.dev[j]] for j in test])
        for t in range(len(TOPICS)):
            y = np.concatenate([d.Y[train, t], d.tax_t == t, np.zeros(len(d.tax_off_text))]).astype(int)
            m = LogisticRegression(C=C, class_weight="balanced", max_iter=3000).fit(X, y)
            probs[test, t] = m.predict_proba(Xtest)[:, 1]
    return probs


def at_least_one(probs, on):
    """On-topic speeches with no topic over 0.5 get their best one."""
    p = probs.copy()
    rows = (on >= 0.5) & (p.max(1) < 0.5)
    p[rows, p[rows].argmax(1)] = 0.5
    return p


def lexical(d):
    print("topic micro-F1 over 5 fold assignments: embedding head (C 3, sentence lever top2) fused with a")
    print("TF-IDF word n-gram head: p = (1 - a) p_embedding + a p_lexical")
    rows = {}
    for seed in range(5):
        d.deal(seed)
        emb = {s: cross_validate(d, C=3, sentence=s) for s in [None, "top2"]}
        lex = {(C, ng): lexical_probs(d, C=C, ngram=ng) for C in [3, 10, 30] for ng in [(1, 1), (1, 2)]}
        for s, (pe, on) in emb.items():
            for key, pl in lex.items():
                for a in [0.0, 0.3, 0.5, 0.7, 1.0]:
                    p = (1 - a) * pe + a * pl
                    rows.setdefault((s, key, a, False), []).append(micro_f1(d, p, on))
                    rows.setdefault((s, key, a, True), []).append(micro_f1(d, at_least_one(p, on), on))
    d.deal(0)
    print(f"  {'sentences':<9} {'lex C':>5} {'ngrams':<7} {'a':>4} {'>=1':<4} {'mean':>6}   per assignment")
    for (s, (C, ng), a, one), v in rows.items():
        print(f"  {'yes' if s else 'no':<9} {C:>5} {str(ng):<7} {a:>4} {'yes' if one else 'no':<4} {np.mean(v):6.3f}   "
              + " ".join(f"{x:.3f}" for x in v))


def off_topic_topics(d, rows):
    """Topics the labels of `rows` give to off-topic speeches: at least 2, and 10% of the topic's."""
    off = np.array([(d.Y[i] & ~d.on[i]) for i in rows]).sum(0)
    return (off >= 2) & (off >= 0.1 * d.Y[rows].sum(0))


def listed(probs, on, min_topics, off_topic):
    """What `aggregate::speech` lists at thresholds 0.5."""
    pred = (probs >= 0.5) & ((on[:, None] >= 0.5) | off_topic[None, :])
    rank = np.argsort(-probs, 1).argsort(1)
    return pred | ((rank < min_topics) & (on[:, None] >= 0.5))


def listing(d):
    print("topic micro-F1 over 5 fold assignments: embedding head (C 3, sentence lever top2) fused with the")
    print("lexical head (C 30, words and pairs) at weight a; an on-topic speech lists at least its")
    print("min_topics strongest topics; 'off' lists the topics the labels give to off-topic speeches on")
    print("them too (derived from each fold's training rows)")
    rows = {}
    for seed in range(5):
        d.deal(seed)
        pe, on = cross_validate(d, C=3, sentence="top2")
        pl = lexical_probs(d, C=30, ngram=(1, 2))
        gold = d.Y[d.dev]
        for a in [0.3, 0.5]:
            p = (1 - a) * pe + a * pl
            for off in [False, True]:
                for n in range(4):
                    pred = np.zeros_like(gold)
                    for k in range(5):
                        test = d.fold == k
                        train = [d.dev[j] for j in range(len(d.dev)) if d.fold[j] != k] + list(d.extra)
                        flags = off_topic_topics(d, train) if off else np.zeros(len(TOPICS), bool)
                        pred[test] = listed(p[test], on[test], n, flags)
                    score = f1((pred & gold).sum(), (pred & ~gold).sum(), (~pred & gold).sum())
                    rows.setdefault((a, n, off), []).append(score)
    d.deal(0)
    print(f"  {'a':>4} {'min_topics':>10} {'off':<4} {'mean':>6}   per assignment")
    for (a, n, off), v in rows.items():
        print(f"  {a:>4} {n:>10} {'yes' if off else 'no':<4} {np.mean(v):6.3f}   " + " ".join(f"{x:.3f}" for x in v))


def main():
    d = Data()
    if sys.argv[1:] == ["repeated"]:
        return repeated(d)
    if sys.argv[1:] == ["lexical"]:
        return lexical(d)
    if sys.argv[1:] == ["listing"]:
        return listing(d)
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
