"""Writes MODEL_DIR/onnx/model.onnx (fp32) and model-int8.onnx (int8 dynamic quantisation) for
parlscan's ONNX Runtime encoder; run by scripts/setup.sh when they are missing or older than the
weights.

The graph is built from model.safetensors with onnx.helper rather than exported through PyTorch:
the venv's torch is the CUDA wheel installed without its CUDA libraries (parlscan links only
libtorch_cpu), so Python cannot import it. It is BERT as sentence-transformers runs it: inputs
`input_ids` and `attention_mask` (int64, [batch, sequence]), output `last_hidden_state`
([batch, sequence, hidden]); parlscan pools and normalises itself. Token types are all 0 (parlscan
never passes a second segment), so the type-0 embedding is folded into a constant and
`token_type_ids` is not an input. LayerNormalization is one op; GELU is in the erf form ONNX
Runtime's optimiser fuses.

Usage: python scripts/export-onnx.py MODEL_DIR
"""
import importlib.util
import json
import logging
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# Quantisation settings, chosen on 635 speeches (dev.csv, data/train_examples.csv,
# data/sample_speeches.csv; dev/fast-agreement.sh) against the default engine: per-channel
# weight scales (per-tensor kept 97.6% of (speech, topic) decisions, against 99.1%); the full 8-bit
# range (reduce_range, meant for CPUs without VNNI, kept 98.9% against 99.0%); only the MatMuls,
# not the word embedding table (a Gather: no speed to gain; 99.8% against 99.4% on dev.csv).
PER_CHANNEL = True
REDUCE_RANGE = False
OP_TYPES = ["MatMul"]


def read_safetensors(path):
    """name -> numpy array, for the dtypes a BERT checkpoint holds."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[meta["dtype"]]).reshape(meta["shape"]).astype(
            np.float32 if meta["dtype"] != "I64" else np.int64)
    return out


class Graph:
    def __init__(self, weights):
        self.w = weights
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint, array):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x, prefix):
        """x @ W^T + b, with W^T stored as the MatMul's constant (what quantize_dynamic quantises)."""
        wt = self.const(f"{prefix}.weight_t", self.w[f"{prefix}.weight"].T.copy())
        b = self.const(f"{prefix}.bias", self.w[f"{prefix}.bias"])
        return self.op("Add", [self.op("MatMul", [x, wt]), b])

    def layer_norm(self, x, prefix, eps):
        g = self.const(f"{prefix}.weight", self.w[f"{prefix}.weight"])
        b = self.const(f"{prefix}.bias", self.w[f"{prefix}.bias"])
        return self.op("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)

    def gelu(self, x):
        """x * 0.5 * (1 + erf(x / sqrt 2)): BERT's exact GELU, in the form ONNX Runtime fuses."""
        e = self.op("Erf", [self.op("Div", [x, self.const("sqrt2", np.float32(np.sqrt(2.0)))])])
        one_plus = self.op("Add", [e, self.const("one", np.float32(1.0))])
        return self.op("Mul", [self.op("Mul", [x, one_plus]), self.const("half", np.float32(0.5))])


def build(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
        sys.exit(f"export-onnx: {model_dir}: only BERT with exact GELU is supported (found {config.get('model_type')}, {config.get('hidden_act')})")
    w = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    w = {k.removeprefix("bert."): v for k, v in w.items()}
    d, heads = config["hidden_size"], config["num_attention_heads"]
    dh = d // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    g = Graph(w)

    ids, mask = "input_ids", "attention_mask"
    # Embeddings: word + position (0..T-1) + token type 0, then LayerNorm.
    seq_len = g.op("Gather", [g.op("Shape", [ids]), g.const("one_i", np.int64(1))], axis=0)
    positions = g.op("Range", [g.const("zero_i", np.int64(0)), seq_len, g.const("step", np.int64(1))])
    x = g.op("Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), ids], axis=0)
    x = g.op("Add", [x, g.op("Gather", [g.const("position_embeddings", w["embeddings.position_embeddings.weight"]), positions], axis=0)])
    x = g.op("Add", [x, g.const("token_type_0", w["embeddings.token_type_embeddings.weight"][0])])
    x = g.layer_norm(x, "embeddings.LayerNorm", eps)

    # Padding keys get -10000 added to their attention scores, as rust-bert and BERT do.
    keep = g.op("Cast", [g.op("Unsqueeze", [mask, g.const("axes", np.array([1, 2], dtype=np.int64))])], to=TensorProto.FLOAT)
    bias = g.op("Mul", [g.op("Sub", [g.const("one", np.float32(1.0)), keep]), g.const("neg", np.float32(-10000.0))])

    split_shape = g.const("split_shape", np.array([0, 0, heads, dh], dtype=np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, d], dtype=np.int64))
    scale = g.const("scale", np.float32(np.sqrt(dh)))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        heads_of = lambda y, perm: g.op("Transpose", [g.op("Reshape", [y, split_shape])], perm=perm)
        q = heads_of(g.linear(x, f"{p}.attention.self.query"), [0, 2, 1, 3])
        k = heads_of(g.linear(x, f"{p}.attention.self.key"), [0, 2, 3, 1])
        v = heads_of(g.linear(x, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = g.op("Add", [g.op("Div", [g.op("MatMul", [q, k]), scale]), bias])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_shape])
        x = g.layer_norm(g.op("Add", [g.linear(context, f"{p}.attention.output.dense"), x]), f"{p}.attention.output.LayerNorm", eps)
        h = g.gelu(g.linear(x, f"{p}.intermediate.dense"))
        x = g.layer_norm(g.op("Add", [g.linear(h, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm", eps)
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="last_hidden_state"))

    dims = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in (ids, mask)]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [d])
    graph = helper.make_graph(g.nodes, "bert", inputs, [output], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="parlscan export-onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def quantize(src, dest):
    # onnxruntime.tools imports torch when it is installed, and the venv's torch cannot be imported
    # (see the top of this file); quantize_dynamic does not use it, so hide it for the import.
    find_spec = importlib.util.find_spec
    importlib.util.find_spec = lambda name, *a, **k: None if name == "torch" else find_spec(name, *a, **k)
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    finally:
        importlib.util.find_spec = find_spec
    # Quiets its advice to pre-process (shape inference) first: the weights it quantises here are
    # MatMul constants, found without it.
    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(src, dest, weight_type=QuantType.QInt8, per_channel=PER_CHANNEL, reduce_range=REDUCE_RANGE,
                     op_types_to_quantize=OP_TYPES)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    model_dir = sys.argv[1]
    out_dir = os.path.join(model_dir, "onnx")
    os.makedirs(out_dir, exist_ok=True)
    fp32, int8 = os.path.join(out_dir, "model.onnx"), os.path.join(out_dir, "model-int8.onnx")
    # Written under temporary names and renamed, so an interrupted export leaves no half file.
    onnx.save(build(model_dir), fp32 + ".tmp")
    quantize(fp32 + ".tmp", int8 + ".tmp")
    os.replace(int8 + ".tmp", int8)
    os.replace(fp32 + ".tmp", fp32)


if __name__ == "__main__":
    main()
