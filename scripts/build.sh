#!/usr/bin/env bash
# Sets up and builds build/release/r1. The default model (models/default.gguf) is in the repository:
# the model scripts/recipe.sh trains (docs/RECIPE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "${JOBS:-$(nproc)}" --target r1
