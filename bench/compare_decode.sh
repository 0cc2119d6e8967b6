#!/usr/bin/env bash
# Decode (tg64) speed of r1 and llama.cpp on the same files, alternating the engines model by
# model and round by round (the machine is shared: only ratios of runs made close together mean
# anything). Appends to OUT; bench/summarize_decode.py OUT makes the table.
#
#   bench/compare_decode.sh OUT ROUNDS THREADS MODEL...
#
# R1 (default build/release/r1) and LLAMA_BENCH (default /work/peers/llama.cpp/build/bin/llama-bench)
# name the binaries. Each run: -p 0 -n 64 -r 2 (after each engine's one-token warm-up).
set -uo pipefail
OUT=$1 ROUNDS=$2 THREADS=$3
shift 3
R1=${R1:-build/release/r1}
LLAMA_BENCH=${LLAMA_BENCH:-/work/peers/llama.cpp/build/bin/llama-bench}
for round in $(seq 1 "$ROUNDS"); do
  for model in "$@"; do
    echo "round $round $(basename "$model") t$THREADS $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT"
    "$R1" bench -m "$model" -p 0 -n 64 -t "$THREADS" -r 2 2>&1 | grep tg64 | awk -F'|' '{print "r1", $8}' >> "$OUT"
    "$LLAMA_BENCH" -m "$model" -p 0 -n 64 -t "$THREADS" -r 2 2>&1 | grep tg64 | awk -F'|' '{print "llama", $8}' >> "$OUT"
  done
done
