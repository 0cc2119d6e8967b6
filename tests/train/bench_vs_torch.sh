#!/usr/bin/env bash
# Training speed, r1.cpp against PyTorch (Debian's python3-torch), same architecture, batch and
# threads, one after the other in one run. usage: tests/train/bench_vs_torch.sh R1_BINARY [THREADS] [STEPS]
set -euo pipefail
R1=${1:?usage: bench_vs_torch.sh R1_BINARY [THREADS] [STEPS]}
THREADS=${2:-2}
STEPS=${3:-20}
B=16
S=64
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
HERE=$(cd "$(dirname "$0")" && pwd)
"$R1" train pretrain --steps "$STEPS" --batch $B --seq $S -t "$THREADS" -o "$DIR/ck.safetensors" \
  --log "$DIR/log.jsonl" --save-every 100000 > /dev/null
# The median step of r1 (the first skipped), and the config it trained, for PyTorch.
/usr/bin/python3 - "$DIR" "$B" "$S" "$THREADS" <<'PY'
import json, statistics, struct, sys
d, B, S, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
steps = [json.loads(l) for l in open(d + "/log.jsonl")]
med = statistics.median(s["seconds"] for s in steps[1:])
print(json.dumps({"engine": "r1.cpp", "threads": T, "batch": B, "seq": S, "median_step_s": med, "tokens_per_s": B * S / med}))
raw = open(d + "/ck.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
open(d + "/config.json", "w").write(json.loads(raw[8:8 + n])["__metadata__"]["config"])
PY
/usr/bin/python3 "$HERE/bench_torch.py" "$DIR/config.json" $B $S "$THREADS" "$STEPS"
