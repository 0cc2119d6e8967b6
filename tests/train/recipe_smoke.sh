#!/usr/bin/env bash
# CI smoke of the R1 recipe (docs/RECIPE.md), about a minute on 2 cores:
#  1. pretraining from scratch lowers the loss;
#  2. GRPO raises the reward on an easy task (1-2 digit addition), starting from a small pretrained
#     checkpoint kept in the repo (fixtures/grpo_smoke_base.safetensors: 0.2M parameters, made by
#       r1 train pretrain --task addition --min-digits 1 --max-digits 2 --direct-fraction 0.3 --n-embd 64 \
#         --n-layer 2 --n-head 4 --n-expert 4 --mtp-weight 0 --steps 1500 --batch 16 --seq 48 --lr 5e-3 -t 1);
#  3. the trained policy exports, and `r1 eval` and `r1 plot` read what training wrote.
# Usage: recipe_smoke.sh R1_BINARY
set -euo pipefail
R1=$1
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

"$R1" train pretrain --task mixed --min-digits 1 --max-digits 2 --direct-fraction 0.3 --slip-fraction 0.1 \
  --n-embd 32 --n-layer 2 --n-head 2 --n-expert 4 --steps 60 --batch 8 --seq 48 --lr 5e-3 -t 2 \
  -o "$W/pre.safetensors" --log "$W/pre.jsonl" > "$W/pre.out"
"$R1" train grpo --init "$HERE/fixtures/grpo_smoke_base.safetensors" --task addition --min-digits 1 --max-digits 2 \
  --steps 20 --prompts 16 -G 8 --lr 3e-4 --max-tokens 48 -t 2 --seed 1 \
  -o "$W/rl.safetensors" --log "$W/rl.jsonl" --export-gguf "$W/rl.gguf" > "$W/rl.out"
"$R1" eval -m "$W/rl.gguf" --task addition --min-digits 1 --max-digits 2 -n 20 -k 2 -t 2 --json "$W/eval.json" > /dev/null
"$R1" plot "$W/rl.jsonl" -o "$W/rl.svg"

/usr/bin/python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
def log(name):
    return [json.loads(line) for line in open(f"{w}/{name}.jsonl")]
pre = log("pre")
first, last = sum(x["lm"] for x in pre[:5]) / 5, sum(x["lm"] for x in pre[-5:]) / 5
print(f"pretrain lm loss: first 5 steps {first:.3f}, last 5 {last:.3f}")
assert last < 0.5 * first, "pretraining did not lower the loss"
rl = log("rl")
assert len(rl) == 20, f"expected 20 GRPO steps, got {len(rl)}"
a0, a1 = sum(x["accuracy"] for x in rl[:5]) / 5, sum(x["accuracy"] for x in rl[-5:]) / 5
print(f"GRPO accuracy: first 5 steps {a0:.3f}, last 5 {a1:.3f}")
assert a1 > a0 + 0.08, "GRPO did not raise the reward"
ev = json.load(open(f"{w}/eval.json"))
print(f"held-out pass@1 after GRPO: {ev['pass@1']:.3f}")
assert ev["pass@1"] >= 0.4, "the GRPO policy lost the skill on held-out problems (measured 0.625)"
assert ev["format"] > 0.9
svg = open(f"{w}/rl.svg").read()
assert svg.count("<polyline") >= 7, "plot is missing panels"
PY
