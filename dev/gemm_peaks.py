"""GEMM throughput on this machine for each arithmetic an engine uses, at the model's shapes
(M x K x N = 4096 x 384 x 1536, about 16 chunks of 256 word-pieces through the feed-forward layer):
fp32 through MKL (libtorch's `linear`), fp32 through oneDNN (`mkldnn_linear`), bf16 (libtorch, oneDNN),
fp32 through ONNX Runtime (MLAS) and int8 through ONNX Runtime (MatMulInteger, as the int8 export
runs). Prints one line per arithmetic: `peak NAME GFLOPS`. Run with .venv-ref's Python (it needs
torch importable and onnxruntime); `--threads N` as parlscan's --threads (default: all cores).
"""
import argparse
import os
import time

import numpy as np

M, K, N = 4096, 384, 1536


def best(fn, seconds=1.5):
    fn()
    fn()
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 2 * M * K * N / min(times) / 1e9


def torch_peaks(threads):
    import torch
    torch.set_num_threads(threads)
    x = torch.randn(M, K)
    w = torch.randn(N, K)
    b = torch.randn(N)
    out = {}
    with torch.no_grad():
        out["fp32 mkl (libtorch linear)"] = best(lambda: torch.nn.functional.linear(x, w, b))
        xm, wm = x.to_mkldnn(), torch.ops.mkldnn._reorder_linear_weight(w) if hasattr(torch.ops.mkldnn, "_reorder_linear_weight") else w.to_mkldnn()
        try:
            out["fp32 onednn (mkldnn_linear)"] = best(lambda: torch._C._nn.mkldnn_linear(xm, wm, b))
        except Exception:
            wm = w.to_mkldnn()
            out["fp32 onednn (mkldnn_linear)"] = best(lambda: torch._C._nn.mkldnn_linear(xm, wm, b))
        xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
        out["bf16 (libtorch linear)"] = best(lambda: torch.nn.functional.linear(xb, wb, bb))
    return out


def ort_peaks(threads):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    out = {}
    for name, itype, wtype, op in [("fp32 mlas (onnx runtime)", TensorProto.FLOAT, np.float32, "MatMul"),
                                   ("int8 mlas (onnx runtime MatMulInteger)", TensorProto.UINT8, np.int8, "MatMulInteger")]:
        w = numpy_helper.from_array((np.random.randn(K, N) * (1 if wtype == np.float32 else 40)).astype(wtype), "w")
        otype = TensorProto.FLOAT if op == "MatMul" else TensorProto.INT32
        g = helper.make_graph([helper.make_node(op, ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", itype, [M, K])],
                              [helper.make_tensor_value_info("y", otype, [M, N])], initializer=[w])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        x = np.random.randn(M, K).astype(np.float32) if op == "MatMul" else np.random.randint(0, 255, (M, K)).astype(np.uint8)
        out[name] = best(lambda: s.run(None, {"x": x}))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    threads = ap.parse_args().threads
    for name, g in {**torch_peaks(threads), **ort_peaks(threads)}.items():
        print(f"peak {name} {g:.0f}")


if __name__ == "__main__":
    main()
