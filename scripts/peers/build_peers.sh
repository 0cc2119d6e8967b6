#!/usr/bin/env bash
# Builds the peer engines (llama.cpp, ik_llama.cpp) OUTSIDE this repository, for the
# side-by-side numbers in docs/PERFORMANCE.md. No peer code enters the repo.
#
#   scripts/peers/build_peers.sh <git-dir-of-llama.cpp> <git-dir-of-ik_llama.cpp> [dest=/work/peers]
#
# Each git dir is a clone (bare or not); the source is exported with `git archive`
# so the clones are left untouched. CPU only, native ISA, Release, llama-bench only.
set -euo pipefail
LLAMA_GIT=${1:?llama.cpp git dir}
IK_GIT=${2:?ik_llama.cpp git dir}
DEST=${3:-/work/peers}
JOBS=${JOBS:-2}

build_one() {  # name git-dir extra-cmake-flags...
  local name=$1 git=$2; shift 2
  local src=$DEST/$name
  if [[ ! -f $src/CMakeLists.txt ]]; then
    mkdir -p "$src"
    # Partial mirrors may lack some large blobs (vocab files, web assets) that the build does
    # not need: export, one by one, every file whose blob is present (git archive gives up on a
    # missing blob even outside the paths it is given).
    git --git-dir="$git" ls-tree -r HEAD --format='%(objectmode) %(objectname) %(path)' |
      while read -r mode oid path; do
        [[ $mode == 100* ]] || continue
        git --git-dir="$git" cat-file -e "$oid" 2>/dev/null || continue
        mkdir -p "$src/$(dirname "$path")"
        git --git-dir="$git" cat-file blob "$oid" > "$src/$path"
        if [[ $mode == 100755 ]]; then chmod +x "$src/$path"; fi
      done
    git --git-dir="$git" rev-parse HEAD > "$src/COMMIT"
  fi
  nice -n 19 cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=ON \
    -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF "$@"
  nice -n 19 cmake --build "$src/build" -j"$JOBS" --target llama-bench
  echo "$name: $src/build/bin/llama-bench ($(cat "$src/COMMIT"))"
}

build_one llama.cpp "$LLAMA_GIT"
build_one ik_llama.cpp "$IK_GIT"
