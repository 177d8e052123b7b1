#!/usr/bin/env bash
# Creates .venv-ref: the Python reference (sentence-transformers on the same model and the same
# torch 2.4.0), for the reference-vector fixture and the benchmark. Not needed to build or test.
# sentence-transformers 3.4.1 and transformers 4.46.3 are pinned: later releases crash on torch 2.4.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
if [ ! -x .venv-ref/bin/python ]; then
  echo "reference-venv: creating .venv-ref" >&2
  "${PYTHON:-python3}" -m venv .venv-ref
fi
if ! .venv-ref/bin/python -c 'import sentence_transformers' 2>/dev/null; then
  echo "reference-venv: installing torch 2.4.0 (with its CUDA wheels) and sentence-transformers 3.4.1" >&2
  .venv-ref/bin/pip -q --disable-pip-version-check install torch==2.4.0 sentence-transformers==3.4.1 transformers==4.46.3
fi
