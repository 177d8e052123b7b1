#!/usr/bin/env bash
# Creates .venv-ref: the Python references (sentence-transformers on the same model and the same
# torch 2.4.0, and its ONNX backend on ONNX Runtime 1.22.1), for the reference-vector fixture and the
# benchmark. Not needed to build or test. sentence-transformers 3.4.1 and transformers 4.46.3 are
# pinned (later releases crash on torch 2.4), and optimum 1.23.3 is the `onnx` extra's release for them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
if [ ! -x .venv-ref/bin/python ]; then
  echo "reference-venv: creating .venv-ref" >&2
  "${PYTHON:-python3}" -m venv .venv-ref
fi
if ! .venv-ref/bin/python -c 'import sentence_transformers, optimum.onnxruntime' 2>/dev/null; then
  echo "reference-venv: installing torch 2.4.0 (with its CUDA wheels), sentence-transformers 3.4.1 and its onnx extra" >&2
  .venv-ref/bin/pip -q --disable-pip-version-check install torch==2.4.0 sentence-transformers==3.4.1 transformers==4.46.3 \
    "optimum[onnxruntime]==1.23.3" onnxruntime==1.22.1 onnx==1.18.0
fi
