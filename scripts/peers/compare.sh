#!/usr/bin/env bash
# Side-by-side speed of r1 and the peer engines on the same files, alternating engines run by run
# (the machine is shared: only ratios measured close together mean anything).
#
#   scripts/peers/compare.sh OUT_DIR ROUNDS "PP" "TG" THREADS MODEL...
#
# Each round runs every (model, engine) once with one repetition; results are the engines' JSON
# outputs, OUT_DIR/<round>-<engine>-<model>.json. scripts/peers/summarize.py makes the table.
# Engines: r1 (R1=build/r1), llama.cpp (LLAMA_BENCH=/work/peers/llama.cpp/build/bin/llama-bench),
# ik_llama.cpp (IK_BENCH=..., run with -rtr 1 when IK_RTR=1), each skipped when absent; IK_THP=1 adds
# a run of ik_llama.cpp with its transparent-huge-pages option (-thp 1), as engine ik_llama.cpp_thp.
# STREAM=1 measures the read bandwidth after each round (r1 bench --stream, OUT_DIR/stream-<round>.txt):
# the decode rows follow it, so a round's ratios are read beside the bandwidth of that moment.
set -uo pipefail
OUT=$1 ROUNDS=$2 PP=$3 TG=$4 THREADS=$5
shift 5
R1=${R1:-build/r1}
LLAMA_BENCH=${LLAMA_BENCH:-/work/peers/llama.cpp/build/bin/llama-bench}
IK_BENCH=${IK_BENCH:-/work/peers/ik_llama.cpp/build/bin/llama-bench}
mkdir -p "$OUT"
for round in $(seq 1 "$ROUNDS"); do
  for model in "$@"; do
    name=$(basename "$model" .gguf)
    "$R1" bench -m "$model" -p "$PP" -n "$TG" -t "$THREADS" -r 1 --json > "$OUT/$round-r1-$name.json" 2>/dev/null
    [[ -x $LLAMA_BENCH ]] && "$LLAMA_BENCH" -m "$model" -p "$PP" -n "$TG" -t "$THREADS" -r 1 -o json \
      > "$OUT/$round-llama.cpp-$name.json" 2>/dev/null
    [[ -x $IK_BENCH ]] && "$IK_BENCH" -m "$model" -p "$PP" -n "$TG" -t "$THREADS" -r 1 -o json \
      ${IK_RTR:+-rtr 1} > "$OUT/$round-ik_llama.cpp-$name.json" 2>/dev/null
    [[ -x $IK_BENCH && -n ${IK_THP:-} ]] && "$IK_BENCH" -m "$model" -p "$PP" -n "$TG" -t "$THREADS" -r 1 -o json \
      ${IK_RTR:+-rtr 1} -thp 1 > "$OUT/$round-ik_llama.cpp_thp-$name.json" 2>/dev/null
    echo "round $round $name done $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
  done
  [[ -n ${STREAM:-} ]] && "$R1" bench --stream -t "$THREADS" -r 3 > "$OUT/stream-$round.txt" 2>&1 &&
    echo "round $round stream read $(awk -F'|' '/\| read/ {print $3 "best," $4 "avg GB/s"}' "$OUT/stream-$round.txt")"
done
