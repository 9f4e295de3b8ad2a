#!/usr/bin/env bash
# Creates .venv and installs Muralist with its test tools, pinned by constraints.txt.
# torch stays at the CPU wheel 2.13.0 (see README "Using a GPU" for a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt torch==2.13.0
.venv/bin/pip install -q -c constraints.txt -e '.[dev]'
# The real CLIP BPE vocabulary for the built-in model's tokenizer ships inside open-clip-torch.
# Installed without its dependencies on purpose: they would pull torchvision, which breaks the
# CPU torch (see README). Muralist only reads one data file from it and never imports it.
.venv/bin/pip install -q --no-deps -c constraints.txt open-clip-torch
# redis-server for the queue's scale-out tests (Debian's package; started on 127.0.0.1 by tests).
bash scripts/install-redis.sh
