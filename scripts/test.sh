#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite with the real model: the Rust tests
# (unit, integration, property), then the sharded mode on a real one-node Slurm cluster.
# Tests read ../shared/data/dev.csv and ../shared/seed/ in place. The Slurm part needs root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# The report tests open pages in headless Chromium; they fail, never skip, without it.
command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
# One build profile for tests and the binary; tests run the real model, so release.
cargo test --release --locked "$@"
bash scripts/slurm/test.sh
