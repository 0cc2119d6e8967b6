#!/usr/bin/env bash
# Installs every Debian and npm package that r1.cpp's build, tests and tools need.
# Idempotent and non-interactive; safe to run again. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev            # libFuzzer targets and the sanitizer preset
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev                  # JSON (configs, tokenizer.json, server)
  libpcre2-dev                        # pre-tokenizer regexes with Unicode classes
  libutf8proc-dev                     # NFC normalization (Qwen2 tokenizer)
  python3 python3-numpy               # independent NumPy references used by tests
  chromium                            # headless browser for the web app test (tests/server)
  python3-torch                       # the trainer's independent PyTorch reference (tests/train)
  g++-aarch64-linux-gnu qemu-user     # the NEON kernels' tests, cross-built and run under qemu
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -y
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Node.js 20 and npm come with the machine image; install Debian's only where none is present.
if ! command -v node >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -y
  $SUDO apt-get install -y --no-install-recommends nodejs npm
fi

# npm packages used by tests (reference tokenizers) live in tools/node.
if [ -f tools/node/package.json ]; then
  if [ ! -d tools/node/node_modules ] || [ tools/node/package-lock.json -nt tools/node/node_modules ]; then
    (cd tools/node && npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error)
  fi
fi
# The server's end-to-end tests: the official openai client and playwright-core (tests/server).
if [ -f tests/server/package.json ]; then
  if [ ! -d tests/server/node_modules ] || [ tests/server/package-lock.json -nt tests/server/node_modules ]; then
    (cd tests/server && npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error)
  fi
fi
echo "setup: all packages present"
