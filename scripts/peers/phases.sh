#!/usr/bin/env bash
# A/B timing of r1 variants across the machine's bandwidth phases: the variants' decode runs in a
# shuffled order each cycle for SECONDS, each run with the read bandwidth measured around it, so that
# scripts/peers/phases.py can compare the variants within cycles and sort the cycles by how fast the
# machine read at that moment (this VM's read bandwidth moves between ~40 and ~90 GB/s within minutes,
# and a change can help in one phase and not in another).
#
#   scripts/peers/phases.sh OUT.jsonl SECONDS MODEL VARIANT...
#
# A variant is a list of environment assignments for that run, e.g. "R1_STREAM_PREFETCH=nta" or
# "R1_STREAM_PREFETCH=none R1_MATMUL_BACKEND=avx2"; "-" runs with none. Each run is
# `$R1 bench -m MODEL -p 0 -n $TG -r 1 -t $THREADS --bandwidth --stream-mib $STREAM_MIB --json`
# (R1=build/release/r1, TG=64, THREADS=2, STREAM_MIB=256) and appends one line to OUT.jsonl:
# {"index": the variant's place in the command line from 0, "variant", "time", "run": r1's JSON}.
set -uo pipefail
OUT=$1 SECONDS_TOTAL=$2 MODEL=$3
shift 3
variants=("$@")
R1=${R1:-build/release/r1} TG=${TG:-64} THREADS=${THREADS:-2} STREAM_MIB=${STREAM_MIB:-256}
(( ${#variants[@]} >= 2 )) || { echo "phases.sh: give at least two variants" >&2; exit 2; }
end=$(( $(date +%s) + SECONDS_TOTAL ))
while (( $(date +%s) < end )); do
  for i in $(seq 0 $(( ${#variants[@]} - 1 )) | shuf); do
    assignments=()
    [[ ${variants[i]} != - ]] && read -ra assignments <<< "${variants[i]}"
    if ! run=$(env "${assignments[@]}" "$R1" bench -m "$MODEL" -p 0 -n "$TG" -r 1 -t "$THREADS" --bandwidth \
                 --stream-mib "$STREAM_MIB" --json 2>/dev/null | tr -d '\n') || [[ -z $run ]]; then
      echo "phases.sh: variant '${variants[i]}' failed" >&2
      exit 1
    fi
    printf '{"index": %d, "variant": "%s", "time": %s, "run": %s}\n' "$i" "${variants[i]}" "$(date +%s)" "$run" >> "$OUT"
  done
done
