#!/usr/bin/env bash
# scripts/peers/phases.sh and phases.py: the runs' plumbing on a real r1 and a tiny model, and the
# summary's arithmetic on readings made up for it.
#   tests/peers/phases_test.sh R1_BINARY
set -euo pipefail
R1=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. Two variants for 3 seconds: every cycle has both, each line carries its variant's place and a run.
R1=$R1 TG=4 STREAM_MIB=4 bash "$root/scripts/peers/phases.sh" "$tmp/runs.jsonl" 3 \
  "$root/tests/data/models/qwen2-mini-q4_0.gguf" - "R1_STREAM_PREFETCH=none"
/usr/bin/python3 - "$tmp/runs.jsonl" <<'PY' || fail "phases.sh output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) >= 2 and len(rows) % 2 == 0, len(rows)  # one cycle at least
for i in range(0, len(rows), 2):
    assert sorted(r["index"] for r in rows[i:i + 2]) == [0, 1], rows[i:i + 2]
for r in rows:
    assert r["variant"] == ["-", "R1_STREAM_PREFETCH=none"][r["index"]]
    run = r["run"][0]
    assert run["n_gen"] == 4 and run["avg_ts"] > 0 and run["read_gbs_samples"][0] > 0, run
PY
/usr/bin/python3 "$root/scripts/peers/phases.py" "$tmp/runs.jsonl" > "$tmp/summary.txt"
grep -q "^| all | [0-9]* | 1.000, 0, " "$tmp/summary.txt" || fail "summary of the runs: $(cat "$tmp/summary.txt")"

# 2. A variant whose runs fail stops the script and is named; one variant alone is refused.
if R1=$R1 TG=4 STREAM_MIB=4 bash "$root/scripts/peers/phases.sh" "$tmp/bad.jsonl" 3 \
  "$root/tests/data/models/qwen2-mini-q4_0.gguf" - "R1_MATMUL_BACKEND=nonsense" 2> "$tmp/err.txt"; then
  fail "a failing variant was not reported"
fi
grep -q "variant 'R1_MATMUL_BACKEND=nonsense' failed" "$tmp/err.txt" || fail "message: $(cat "$tmp/err.txt")"
# r1 failing after printing something is a failure too (its exit status, not its output, decides).
printf '#!/usr/bin/env bash\necho "[{}]"\nexit 1\n' > "$tmp/half_r1"
chmod +x "$tmp/half_r1"
if R1=$tmp/half_r1 bash "$root/scripts/peers/phases.sh" "$tmp/half.jsonl" 3 model - A=1 2> /dev/null; then
  fail "a run that printed and then failed was not reported"
fi
[[ ! -s $tmp/half.jsonl ]] || fail "a failed run was written: $(cat "$tmp/half.jsonl")"
status=0
R1=$R1 bash "$root/scripts/peers/phases.sh" "$tmp/one.jsonl" 3 "$root/tests/data/models/qwen2-mini-q4_0.gguf" - \
  2> /dev/null || status=$?
[[ $status == 2 ]] || fail "one variant: exit status $status, expected 2"

# 3. The summary's numbers: three cycles of two variants (B's t/s over A's 1.1, 0.9 and 1.2) in two
#    bands (a cycle's band from the median of its two readings), written in shuffled order.
line() { printf '{"index": %s, "variant": "%s", "time": 0, "run": [{"avg_ts": %s, "read_gbs_samples": [%s], "bandwidth_fraction_samples": [%s]}]}\n' "$@"; }
{
  line 1 B 55 44 0.80; line 0 A 50 46 0.70
  line 0 A 50 47 0.72; line 1 B 45 43 0.60
  line 0 A 40 75 0.50; line 1 B 48 77 0.90
} > "$tmp/made_up.jsonl"
/usr/bin/python3 "$root/scripts/peers/phases.py" "$tmp/made_up.jsonl" > "$tmp/made_up.txt"
expect() { grep -qF -- "$1" "$tmp/made_up.txt" || fail "expected '$1' in: $(cat "$tmp/made_up.txt")"; }
expect "ratios against 'A'"
expect "| 40-50 | 2 | 1.000, 0, 0.710 | 1.000, 1, 0.700 |"
expect "| 70-80 | 1 | 1.000, 0, 0.500 | 1.200, 1, 0.900 |"
expect "| all | 3 | 1.000, 0, 0.700 | 1.100, 2, 0.800 |"
echo "phases_test: ok"
