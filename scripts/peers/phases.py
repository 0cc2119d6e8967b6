#!/usr/bin/env python3
"""Summary of a phases.sh run: each variant's decode speed over the first variant's in the same
cycle, and each run's weights-read fraction of the bandwidth measured around it, by the cycle's read
bandwidth in bands of 10 GB/s (a cycle's band: the median of its runs' readings).

    scripts/peers/phases.py OUT.jsonl
"""
import json, statistics, sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
variants = [v for _, v in sorted({(r["index"], r["variant"]) for r in rows})]  # the command line's order
# phases.sh writes each cycle's variants one after another, every variant once per cycle.
by_band = defaultdict(lambda: defaultdict(list))  # band -> variant -> [(ratio, fraction)]
for i in range(0, len(rows) - len(variants) + 1, len(variants)):
    cycle = {r["variant"]: r["run"][0] for r in rows[i:i + len(variants)]}
    if len(cycle) != len(variants):
        continue  # a cut-off cycle
    band = int(statistics.median(run["read_gbs_samples"][0] for run in cycle.values()) // 10 * 10)
    base = cycle[variants[0]]["avg_ts"]
    for v, run in cycle.items():
        by_band[band][v].append((run["avg_ts"] / base, run["bandwidth_fraction_samples"][0]))


def cell(got):
    """A variant's median ratio, cycles won and median fraction over (ratio, fraction) pairs."""
    return (f"{statistics.median(r for r, _ in got):.3f}, {sum(r > 1 for r, _ in got)}, "
            f"{statistics.median(f for _, f in got):.3f}")


print(f"ratios against '{variants[0]}' (medians over cycles; wins = cycles where the variant was faster)")
print("| read GB/s | cycles | " + " | ".join(f"{v}: ratio, wins, fraction" for v in variants) + " |")
print("|---|---:|" + "---|" * len(variants))
totals = defaultdict(list)
for band in sorted(by_band):
    for v in variants:
        totals[v] += by_band[band][v]
    print(f"| {band}-{band + 10} | {len(by_band[band][variants[0]])} | "
          + " | ".join(cell(by_band[band][v]) for v in variants) + " |")
print(f"| all | {len(totals[variants[0]])} | " + " | ".join(cell(totals[v]) for v in variants) + " |")
