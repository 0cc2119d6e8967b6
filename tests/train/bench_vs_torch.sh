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
r1 = {"engine": "r1.cpp", "threads": T, "batch": B, "seq": S, "median_step_s": med, "tokens_per_s": B * S / med}
raw = open(d + "/ck.safetensors", "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
cfg = json.loads(header["__metadata__"]["config"])
open(d + "/config.json", "w").write(header["__metadata__"]["config"])
# Matrix-multiply weights a token passes through (routed experts: top-k of E; the embedding is a
# lookup); training costs 6 FLOPs per such weight and token (forward 2, backward 4). Attention's
# own products add about 2·S·H·(qk + v) per token, under 2% here, and are left out.
active = 0
for name, t in header.items():
    if name == "__metadata__" or len(t["shape"]) != 2 or "embed_tokens" in name or name.startswith("optimizer."):
        continue
    rows, cols = t["shape"]
    share = cfg["n_expert_used"] / cfg["n_expert"] if ".mlp.experts." in name else 1.0
    active += rows * cols * share
open(d + "/flops_per_token", "w").write(str(6 * active))
r1["gflops"] = 6 * active * r1["tokens_per_s"] / 1e9
print(json.dumps(r1))
PY
/usr/bin/python3 "$HERE/bench_torch.py" "$DIR/config.json" $B $S "$THREADS" "$STEPS" > "$DIR/torch.json"
cat "$DIR/torch.json"
/usr/bin/python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
flops = float(open(d + "/flops_per_token").read())
torch = json.load(open(d + "/torch.json"))
print(f"model FLOPs per training token: {flops / 1e6:.2f} M (6 x active matmul weights)")
print(f"pytorch GFLOP/s: {flops * torch['tokens_per_s'] / 1e9:.2f}")
PY
