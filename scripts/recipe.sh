#!/usr/bin/env bash
# The R1 recipe at small scale, end to end (docs/RECIPE.md has the results and what each stage is):
#   base   pretrain a DeepSeek-V3-architecture model on worked problems mixed with direct answers
#          and slips (web-like data)                                        → OUT/base.*
#   rl     GRPO from the base with rule rewards                             → OUT/rl.*   (the shipped model)
#   sft    the compute-matched control: SFT from the base on reference solutions, as many sequences
#          as GRPO trained on                                               → OUT/sft.*
#   student a dense Qwen2-style student pretrained on the base's data        → OUT/student-base.*
#   distil the student fine-tuned on the RL model's correct responses (R1 §2.4) → OUT/student.*
#   srl    the student trained by GRPO directly instead (R1's Table 6 question) → OUT/student-rl.*
# then held-out evaluation of each (R1's protocol: k samples at T 0.6 / top-p 0.95) into OUT/*.json
# and OUT/table.md, and the GRPO logs drawn as OUT/*.svg.
# Usage: scripts/recipe.sh [OUT] [stage ...]   (default: every stage; R1=path/to/r1, THREADS=N)
set -euo pipefail
cd "$(dirname "$0")/.."
R1=${R1:-build/release/r1}
T=${THREADS:-2}
OUT=${1:-recipe-run}
shift || true
STAGES=${*:-base rl sft student distil srl eval}
mkdir -p "$OUT"

# The data: additions of 1-5 digit numbers, Countdown with 3 numbers, and requests outside both.
TASK=(--task mixed --min-digits 1 --max-digits 5 --numbers 3)
MIX=(--direct-fraction 0.3 --slip-fraction 0.1)
PRE=(--steps 2000 --warmup 50 --batch 32 --seq 96 --lr 3e-3)
GRPO=(--steps 80 --prompts 16 -G 8 --variant grpo --lr 3e-4 --min-lr-ratio 0.1 --kl 0.001 --ref-every 40 --max-tokens 96)
# GRPO trains on 80 steps x 16 prompts x 8 samples = 10,240 sequences; the SFT control and the
# distillation on as many (320 steps x 32), with the same learning-rate schedule.
SFT=(--steps 320 --batch 32 --seq 96 --lr 3e-4 --warmup 0 --min-lr-ratio 0.1)

has() { [[ " $STAGES " == *" $1 "* ]]; }
run() { echo "+ $*" >&2; "$@"; }

if has base; then
  run "$R1" train pretrain "${TASK[@]}" "${MIX[@]}" "${PRE[@]}" -t "$T" --save-every 250 \
    -o "$OUT/base.safetensors" --log "$OUT/base.jsonl" --export-gguf "$OUT/base.gguf"
fi
if has rl; then
  run "$R1" train grpo --init "$OUT/base.safetensors" "${TASK[@]}" "${GRPO[@]}" -t "$T" --save-every 20 \
    -o "$OUT/rl.safetensors" --log "$OUT/rl.jsonl" --export-gguf "$OUT/rl.gguf" --export-hf "$OUT/rl-hf"
  run "$R1" plot "$OUT/rl.jsonl" -o "$OUT/rl.svg" --title "GRPO from the base (tiny DeepSeek-V3)"
fi
if has sft; then
  run "$R1" train sft --init "$OUT/base.safetensors" "${TASK[@]}" "${SFT[@]}" -t "$T" \
    -o "$OUT/sft.safetensors" --log "$OUT/sft.jsonl" --export-gguf "$OUT/sft.gguf"
fi
if has student; then
  run "$R1" train pretrain --arch dense "${TASK[@]}" "${MIX[@]}" "${PRE[@]}" -t "$T" --save-every 500 \
    -o "$OUT/student-base.safetensors" --log "$OUT/student-base.jsonl" --export-gguf "$OUT/student-base.gguf"
fi
if has distil; then
  run "$R1" train distill --teacher "$OUT/rl.gguf" --init "$OUT/student-base.safetensors" "${TASK[@]}" \
    --distill-problems 4096 --distill-samples 2 "${SFT[@]}" -t "$T" \
    -o "$OUT/student.safetensors" --log "$OUT/student.jsonl" --export-gguf "$OUT/student.gguf" --export-hf "$OUT/student-hf"
fi
if has srl; then
  run "$R1" train grpo --init "$OUT/student-base.safetensors" "${TASK[@]}" "${GRPO[@]}" -t "$T" --save-every 20 \
    -o "$OUT/student-rl.safetensors" --log "$OUT/student-rl.jsonl" --export-gguf "$OUT/student-rl.gguf"
  run "$R1" plot "$OUT/student-rl.jsonl" -o "$OUT/student-rl.svg" --title "GRPO from the student's base"
fi
if has eval; then
  for m in base rl sft student student-base student-rl; do
    [ -f "$OUT/$m.gguf" ] || continue
    run "$R1" eval -m "$OUT/$m.gguf" --task addition --min-digits 1 --max-digits 5 -n 200 -k 4 -t "$T" --json "$OUT/$m.addition.json"
    run "$R1" eval -m "$OUT/$m.gguf" --task countdown --numbers 3 -n 100 -k 4 -t "$T" --json "$OUT/$m.countdown.json"
    run "$R1" eval -m "$OUT/$m.gguf" --task other -n 50 -k 2 -t "$T" --json "$OUT/$m.other.json"
  done
  python3 - "$OUT" > "$OUT/table.md" <<'EOF'
import json, os, sys
out = sys.argv[1]
rows = [("base", "base (pretrained, tiny DeepSeek-V3)"), ("rl", "+ GRPO (shipped)"), ("sft", "+ SFT control (compute-matched)"),
        ("student", "student distilled from the GRPO model"), ("student-base", "student pretrained like the base"),
        ("student-rl", "student pretrained + GRPO directly")]
print("| model | addition pass@1 | pass@4 | maj@4 | mean length | Countdown pass@1 | pass@4 | other: declines |")
print("|---|---|---|---|---|---|---|---|")
for key, name in rows:
    try:
        a, c, o = (json.load(open(os.path.join(out, f"{key}.{t}.json"))) for t in ("addition", "countdown", "other"))
    except FileNotFoundError:
        continue
    print(f"| {name} | {a['pass@1']:.3f} | {a['pass@k']:.3f} | {a['maj@k']:.3f} | {a['mean_length']:.1f} | "
          f"{c['pass@1']:.3f} | {c['pass@k']:.3f} | {o['pass@1']:.3f} |")
EOF
  cat "$OUT/table.md"
fi
