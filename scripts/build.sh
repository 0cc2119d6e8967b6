#!/usr/bin/env bash
# Sets up, builds build/release/r1, and makes sure the default model exists (models/default.gguf:
# for now a small random-weight model written by `r1 gen-model`, until a trained one ships).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${JOBS:-$(nproc)}" --target r1
if [ ! -f models/default.gguf ]; then
  mkdir -p models
  build/release/r1 gen-model --shape tiny-qwen2 --type q8_0 --seed 2025 -o models/default.gguf
fi
