#!/usr/bin/env bash
# GPU smoke test of the real-model path: one figure end to end on a Llama-family model you have
# locally (an HF directory, e.g. a small Llama or the refusal-token Llama-3 8B).
#   scripts/gpu_smoke.sh /path/to/hf-llama-dir [extra experiment args]
# Writes figures into smoke-figures/. Needs a CUDA GPU; falls back to CPU if none is visible.
set -euo pipefail
model=${1:?usage: scripts/gpu_smoke.sh <local HF Llama directory> [args]}
shift
cd "$(dirname "$0")/.."
device=cpu
if .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then device=cuda; fi
dtype=float32
[ "$device" = cuda ] && dtype=bfloat16
HF_HUB_OFFLINE=1 .venv/bin/python experiments/00_organism_baseline.py --model "$model" --device "$device" \
    --dtype "$dtype" --out smoke-figures "$@"
HF_HUB_OFFLINE=1 .venv/bin/python experiments/03_direction_cosine.py --model "$model" --device "$device" \
    --dtype "$dtype" --out smoke-figures "$@"
echo "smoke test passed: see smoke-figures/"
