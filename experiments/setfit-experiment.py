# SetFit-style contrastive fine-tuning of all-MiniLM-L6-v2, per CV fold, vs the frozen encoder.
# Folds, labels, logistic heads and scoring follow experiments/label-levers.py's frozen-encoder setup
# (same debate folds and heads); only the encoder differs. Runs in .venv-ref, about 25 min on 2 cores:
#   .venv-ref/bin/python experiments/setfit-experiment.py 800 0,1,2,3,4 0
# Fine-tuning for fold k sees only fold k's training rows (dev speeches outside fold k +
# data/train_examples.csv + taxonomy topic/off-topic examples); never the held-out dev speeches.
# Usage: setfit-experiment.py [n_pairs] [folds e.g. 0,1,2,3,4] [seed]
# Fine-tuned embeddings are cached per fold in out/setfit/ so runs can resume. Figures, not assertions.
# Each encoder is scored twice: on the speech embedding alone, and with label-levers.py's sentence
# lever (0.5 speech + 0.5 mean of the two best sentences, each sentence embedded alone).
import os, sys, time, csv, re, tomllib, random, warnings, math
os.environ['HF_HUB_OFFLINE'] = '1'; os.environ['TRANSFORMERS_OFFLINE'] = '1'
import numpy as np, torch
torch.set_num_threads(1)
from sklearn.linear_model import LogisticRegression
from sentence_transformers import SentenceTransformer, losses
warnings.filterwarnings('ignore')
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

N_PAIRS = int(sys.argv[1]) if len(sys.argv) > 1 else 800
FOLDS = [int(x) for x in sys.argv[2].split(',')] if len(sys.argv) > 2 else [0, 1, 2, 3, 4]
SEED = int(sys.argv[3]) if len(sys.argv) > 3 else 0
EPOCHS, BATCH, LR, WARMUP_FRAC = 1, 16, 2e-5, 0.1
CACHE = 'out/setfit'; os.makedirs(CACHE, exist_ok=True)
MODEL = 'models/all-MiniLM-L6-v2'

# ---- data (same files and label columns as label-levers.py) ----
rows = []
for f in ['data/train_examples.csv', '../shared/data/dev.csv']:
    for r in csv.DictReader(open(f, encoding='utf-8')):
        rows.append((f, r.get('id', ''), r.get('source', ''), r['text'], r['topics'], r['stance']))
taxd = tomllib.load(open('data/taxonomy.toml', 'rb'))
tax = []
for t in taxd['topic']:
    for e in t['examples']: tax.append(('topic', t['name'], e))
for e in taxd['off_topic']['examples']: tax.append(('off', '', e))   # the frozen setup uses only 'topic' and 'off'

TOP = ['encryption','interception','communications_data','bulk_powers','equipment_interference','oversight','tech_companies','national_security','privacy_rights','online_safety','physical_surveillance']
def key(src):
    m = re.search(r'debate id (\d+)', src)
    if m: return 'd'+m.group(1)
    if '/debates/' in src: return re.split(r'[/?#]', src.split('/debates/')[1])[0]
    return src.split('#')[0]
dev = [i for i, r in enumerate(rows) if 'dev.csv' in r[0]]
ext = [i for i, r in enumerate(rows) if 'dev.csv' not in r[0]]
Y = np.array([[t in r[4].split(';') for t in TOP] for r in rows])
ON = np.array([r[5] != 'none' for r in rows])
groups = sorted(set(key(rows[i][2]) for i in dev))
rng = np.random.RandomState(0); rng.shuffle(groups)
fold = {g: k % 5 for k, g in enumerate(groups)}
F = np.array([fold[key(rows[i][2])] for i in dev])
tx_kind = [(TOP.index(n) if kind == 'topic' else None) for kind, n, _ in tax]
assert len(dev) == 75 and len(ext) == 530, (len(dev), len(ext))

def f1(tp, fp, fn): return 2*tp/max(1, 2*tp+fp+fn)

def sentences(text):   # label-levers.py's splitter
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"“‘(])", text) if len(s.split()) >= 4]
    return parts or [text]
SENTS = [sentences(rows[i][3]) for i in dev]
SOWNER = np.array([j for j, ss in enumerate(SENTS) for _ in ss])
SENT_WEIGHT = 0.5

# ---- evaluation: the frozen setup's run() default path (use_tax=True, partial=False, sent=None, thr=0.5),
# but with per-fold embeddings: E[k] = (emb rows, emb taxonomy, emb of dev speeches' sentences) from
# fold k's encoder; `sent` mixes in the two best sentences' scores ----
def run(E, C, detail=False, sent=False):
    probs = np.zeros((len(dev), len(TOP))); onp = np.zeros(len(dev))
    for k in range(5):
        emb, temb, semb = E[k]
        tx_topic = [(t, e) for t, e in zip(tx_kind, temb) if t is not None]
        tx_off = [e for t, e in zip(tx_kind, temb) if t is None]
        tr = [dev[j] for j in range(len(dev)) if F[j] != k] + list(ext)
        te = [j for j in range(len(dev)) if F[j] == k]
        X = emb[tr]
        Xo = np.vstack([X, np.array(tx_off), np.array([e for _, e in tx_topic])])
        yo = np.concatenate([ON[tr], np.zeros(len(tx_off)), np.ones(len(tx_topic))])
        mo = LogisticRegression(C=C, class_weight='balanced', max_iter=2000).fit(Xo, yo)
        onp[te] = mo.predict_proba(emb[[dev[j] for j in te]])[:, 1]
        for t in range(len(TOP)):
            pos = np.array([e for tt, e in tx_topic if tt == t]); neg = np.array([e for tt, e in tx_topic if tt != t])
            Xs = np.vstack([X, pos, neg, np.array(tx_off)])
            ys = np.concatenate([Y[tr, t], np.ones(len(pos)), np.zeros(len(neg)), np.zeros(len(tx_off))])
            m = LogisticRegression(C=C, class_weight='balanced', max_iter=2000).fit(Xs, ys)
            probs[te, t] = m.predict_proba(emb[[dev[j] for j in te]])[:, 1]
            if sent:
                for j in te:
                    top2 = np.sort(m.predict_proba(semb[SOWNER == j])[:, 1])[-2:].mean()
                    probs[j, t] = (1 - SENT_WEIGHT) * probs[j, t] + SENT_WEIGHT * top2
    tp = fp = fn = 0; per = np.zeros((len(dev), 3))   # per-speech topic tp, fp, fn
    for j in range(len(dev)):
        gold = Y[dev[j]]; pred = (probs[j] >= 0.5) & (onp[j] >= 0.5)
        per[j] = (pred & gold).sum(), (pred & ~gold).sum(), (~pred & gold).sum()
        tp += (pred & gold).sum(); fp += (pred & ~gold).sum(); fn += (~pred & gold).sum()
    if detail: return per
    otp = ((onp >= .5) & ON[dev]).sum(); ofp = ((onp >= .5) & ~ON[dev]).sum(); ofn = ((onp < .5) & ON[dev]).sum()
    return round(f1(otp, ofp, ofn), 3), round(f1(tp, fp, fn), 3)

def load():
    m = SentenceTransformer(MODEL, device='cpu'); m.max_seq_length = 256; return m
def embed_all(m):
    m.eval()
    emb = m.encode([r[3] for r in rows], batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    temb = m.encode([x[2] for x in tax], batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    semb = m.encode([s for ss in SENTS for s in ss], batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return emb, temb, semb

# ---- SetFit-style pairs for fold k ----
def make_pairs(k, n, seed):
    r = random.Random(seed * 100 + k)
    pool = []   # (text, frozenset of labels); off-topic rows get the single label 'OFF'
    for i in [dev[j] for j in range(len(dev)) if F[j] != k] + list(ext):
        labs = {t for t in rows[i][4].split(';') if t} if ON[i] else {'OFF'}
        if not labs: labs = {'ON_NOTOPIC'}   # on-topic row with no topic (should be none; counted below)
        pool.append((rows[i][3], frozenset(labs)))
    for (kind, n_, text) in tax:
        pool.append((text, frozenset([n_] if kind == 'topic' else ['OFF'])))
    by_lab = {}
    for idx, (_, labs) in enumerate(pool):
        for l in labs: by_lab.setdefault(l, []).append(idx)
    pairs = []
    while len(pairs) < n:   # alternate positive / negative, anchors uniform over the pool
        a = r.randrange(len(pool)); ta, la = pool[a]
        if len(pairs) % 2 == 0:
            l = r.choice(sorted(la)); cands = by_lab[l]
            b = r.choice(cands)
            if b == a: continue
            pairs.append((ta, pool[b][0], 1.0))
        else:
            b = r.randrange(len(pool))
            if pool[b][1] & la: continue
            pairs.append((ta, pool[b][0], 0.0))
    r.shuffle(pairs)
    n_notopic = sum(1 for _, l in pool if 'ON_NOTOPIC' in l)
    return pairs, len(pool), n_notopic

# ---- fine-tuning: same as legacy SentenceTransformer.fit (AdamW, wd 0.01, linear warmup/decay,
# grad-norm clip 1.0) with CosineSimilarityLoss; written out because model.fit in ST 3.4 needs
# the `datasets`/`accelerate` packages, which are not installed ----
def finetune(m, pairs, seed):
    torch.manual_seed(seed); m.train()
    loss_fn = losses.CosineSimilarityLoss(m)
    params = list(m.named_parameters()); nd = ['bias', 'LayerNorm.bias', 'LayerNorm.weight']
    opt = torch.optim.AdamW([{'params': [p for n, p in params if not any(x in n for x in nd)], 'weight_decay': 0.01},
                             {'params': [p for n, p in params if any(x in n for x in nd)], 'weight_decay': 0.0}], lr=LR)
    steps = EPOCHS * math.ceil(len(pairs) / BATCH); warm = int(WARMUP_FRAC * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / max(1, warm) if s < warm else max(0.0, (steps - s) / max(1, steps - warm)))
    losses_seen = []
    for ep in range(EPOCHS):
        for b in range(0, len(pairs), BATCH):
            batch = pairs[b:b+BATCH]
            fa = m.tokenize([p[0] for p in batch]); fb = m.tokenize([p[1] for p in batch])
            lab = torch.tensor([p[2] for p in batch], dtype=torch.float)
            loss = loss_fn([fa, fb], lab)
            opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step(); sched.step(); losses_seen.append(loss.item())
    return steps, float(np.mean(losses_seen[:5])), float(np.mean(losses_seen[-5:]))

if __name__ == '__main__':
    log = []
    def say(*a):
        s = ' '.join(str(x) for x in a); print(s, flush=True); log.append(s)
    t0 = time.time()
    base = load()
    fz = embed_all(base); say(f'frozen embedding of {len(rows)} rows + {len(tax)} taxonomy texts: {time.time()-t0:.0f}s')
    E_frozen = [fz] * 5
    ft = {}
    for k in FOLDS:
        path = f'{CACHE}/fold{k}_n{N_PAIRS}_s{SEED}_sent.npz'
        if os.path.exists(path):
            z = np.load(path); ft[k] = (z['emb'], z['temb'], z['semb']); say(f'fold {k}: cached {path}'); continue
        t1 = time.time()
        pairs, npool, nnt = make_pairs(k, N_PAIRS, SEED)
        npos = sum(p[2] for p in pairs)
        m = load()
        steps, l0, l1 = finetune(m, pairs, SEED + k)
        t2 = time.time()
        ft[k] = embed_all(m); t3 = time.time()
        np.savez(path, emb=ft[k][0], temb=ft[k][1], semb=ft[k][2])
        say(f'fold {k}: pool {npool} texts ({nnt} on-topic w/o topic), {len(pairs)} pairs ({int(npos)} pos), {steps} steps, '
            f'loss {l0:.3f}->{l1:.3f}, train {t2-t1:.0f}s, re-embed {t3-t2:.0f}s')
        del m
    if len(ft) == 5:
        E_ft = [ft[k] for k in range(5)]
        say(f'pairs/fold {N_PAIRS}, epochs {EPOCHS}, batch {BATCH}, lr {LR}, seed {SEED}')
        for sent in [False, True]:
            say('speech embedding alone' if not sent else f'with the sentence lever ({SENT_WEIGHT} speech + {SENT_WEIGHT} best two sentences)')
            say('C    frozen (onF1, topic microF1)   fine-tuned (onF1, topic microF1)')
            for C in [1, 3, 10]:
                a, b = run(E_frozen, C, sent=sent), run(E_ft, C, sent=sent)
                say(f'{C:<4} ({a[0]:.3f}, {a[1]:.3f})                 ({b[0]:.3f}, {b[1]:.3f})')
        # paired bootstrap over debates (resample the 75 dev speeches by debate group, same draw for both encoders)
        g = np.array([key(rows[i][2]) for i in dev]); ug = sorted(set(g)); gi = [np.where(g == u)[0] for u in ug]
        br = np.random.RandomState(1)
        draws = [np.concatenate([gi[x] for x in br.randint(0, len(ug), len(ug))]) for _ in range(5000)]
        mf = lambda p, idx: f1(*p[idx].sum(0))
        say(f'paired bootstrap over {len(ug)} debates, 5000 draws: topic micro-F1 difference (fine-tuned - frozen)')
        for sent, C in [(s, c) for s in [False, True] for c in [1, 3, 10]]:
            pa, pb = run(E_frozen, C, True, sent), run(E_ft, C, True, sent)
            d = np.array([mf(pb, idx) - mf(pa, idx) for idx in draws])
            say(f'{"sentences, " if sent else ""}C {C}: frozen tp/fp/fn {pa.sum(0).astype(int).tolist()}, fine-tuned {pb.sum(0).astype(int).tolist()}, '
                f'diff {mf(pb, np.arange(len(dev))) - mf(pa, np.arange(len(dev))):+.3f}, 95% CI [{np.percentile(d, 2.5):+.3f}, {np.percentile(d, 97.5):+.3f}], '
                f'P(diff<=0) {np.mean(d <= 0):.3f}; speeches better/worse/same (tp-fp-fn): '
                f'{int(((pb[:,0]-pb[:,1]-pb[:,2]) > (pa[:,0]-pa[:,1]-pa[:,2])).sum())}/{int(((pb[:,0]-pb[:,1]-pb[:,2]) < (pa[:,0]-pa[:,1]-pa[:,2])).sum())}/{int(((pb[:,0]-pb[:,1]-pb[:,2]) == (pa[:,0]-pa[:,1]-pa[:,2])).sum())}')
    say(f'total {time.time()-t0:.0f}s')
    open(f'{CACHE}/log_n{N_PAIRS}_s{SEED}.txt', 'a').write('\n'.join(log) + '\n')
