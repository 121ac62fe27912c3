#!/usr/bin/env bash
# Set everything up, then run the main job on the bundled example: export examples/mlp.py to ONNX and to a
# native executable, and print the parity report (NumPy eager vs ONNX Runtime vs native binary).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
exporter export examples/mlp.py --to onnx -o out/mlp.onnx
exporter export examples/mlp.py --to exe -o out/mlp
exporter check examples/mlp.py
