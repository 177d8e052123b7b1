"""Does batching pay on ONNX Runtime, and does its transformer optimiser? (docs/experiments.md)

Times models/all-MiniLM-L6-v2/onnx/model.onnx (and a copy run through onnxruntime.transformers'
BERT optimiser) on 60 random chunks of 60-256 word-pieces, 2 intra-op threads: one chunk per pass
unpadded, against batches of 8 padded to multiples of 32 and of 4 padded to multiples of 64, two
rounds each. Prints the fused operators and the largest hidden-state difference the optimiser made.

    .venv/bin/python experiments/onnx-batching.py
"""
import importlib.util
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort

# onnxruntime.transformers imports torch when it is installed; the venv's torch cannot be imported
# (scripts/export-onnx.py says why) and is not needed here.
find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a, **k: None if name == "torch" else find_spec(name, *a, **k)
from onnxruntime.transformers import optimizer  # noqa: E402
importlib.util.find_spec = find_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models/all-MiniLM-L6-v2/onnx/model.onnx")


def session(path):
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = 2, 1
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def one(s, seq):
    ids = seq[None, :].astype(np.int64)
    return s.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]


def batched(s, seqs, rows, bucket):
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    for b in range(0, len(order), rows):
        group = order[b:b + rows]
        t = -(-max(len(seqs[i]) for i in group) // bucket) * bucket
        ids, mask = np.zeros((rows, t), np.int64), np.zeros((rows, t), np.int64)
        for k, i in enumerate(group):
            ids[k, :len(seqs[i])], mask[k, :len(seqs[i])] = seqs[i], 1
        s.run(None, {"input_ids": ids, "attention_mask": mask})


def main():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(1000, 20000, size=int(n)) for n in rng.integers(60, 257, size=60)]
    opt = optimizer.optimize_model(MODEL, model_type="bert", num_heads=12, hidden_size=384, opt_level=0)
    print("fused:", {k: v for k, v in opt.get_fused_operator_statistics().items() if v})
    optimised = os.path.join(tempfile.mkdtemp(), "model-opt.onnx")
    opt.save_model_to_file(optimised)
    for path in [MODEL, optimised]:
        s = session(path)
        for q in seqs[:5]:
            one(s, q)
        for _ in range(2):
            t = time.time(); [one(s, q) for q in seqs]; alone = time.time() - t
            t = time.time(); batched(s, seqs, 8, 32); b8 = time.time() - t
            t = time.time(); batched(s, seqs, 4, 64); b4 = time.time() - t
            print(f"{os.path.basename(path)}: alone {alone:.2f} s, 8 per pass (x32) {b8:.2f} s, 4 per pass (x64) {b4:.2f} s, "
                  f"{sum(len(q) for q in seqs)} word-pieces")
    a, b = session(MODEL), session(optimised)
    print("largest hidden-state difference, optimised against plain:", max(np.abs(one(a, q) - one(b, q)).max() for q in seqs[:10]))


if __name__ == "__main__":
    main()
