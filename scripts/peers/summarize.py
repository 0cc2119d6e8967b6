#!/usr/bin/env python3
"""Table of compare.sh results: per model and test, each engine's median t/s over rounds and
the median over rounds of the per-round ratio r1 / peer (ratios of runs made close together).

    scripts/peers/summarize.py OUT_DIR
"""
import json, pathlib, statistics, sys
from collections import defaultdict

runs = defaultdict(dict)  # (round, model) -> {(engine, test): t/s}
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    rnd, engine, model = f.stem.split("-", 2)
    try:
        rows = json.loads(f.read_text())
    except ValueError:
        continue  # a run that failed or was cut short
    for row in rows:
        test = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
        runs[(rnd, model)][(engine, test)] = row["avg_ts"]

models = sorted({m for _, m in runs})
engines = ["r1", "llama.cpp", "ik_llama.cpp"]
if any(e == "ik_llama.cpp_thp" for run in runs.values() for (e, _) in run):
    engines.append("ik_llama.cpp_thp")  # compare.sh with IK_THP=1
print("| model | test | " + " | ".join(f"{e} t/s" for e in engines) + " | " +
      " | ".join(f"r1/{e}" for e in engines[1:]) + " | rounds |")
print("|---|---|" + "---:|" * (len(engines) + 3))
for model in models:
    rounds = [r for (r, m) in runs if m == model]
    tests = sorted({t for r in rounds for (_, t) in runs[(r, model)]}, key=lambda t: (t[:2] != "pp", t))
    for test in tests:
        speed = {e: [runs[(r, model)][(e, test)] for r in rounds if (e, test) in runs[(r, model)]] for e in engines}
        cells = [f"{statistics.median(v):.2f}" if v else "—" for v in speed.values()]
        ratios = []
        for peer in engines[1:]:
            rs = [runs[(r, model)][("r1", test)] / runs[(r, model)][(peer, test)] for r in rounds
                  if ("r1", test) in runs[(r, model)] and (peer, test) in runs[(r, model)]]
            ratios.append(f"{statistics.median(rs):.2f}" if rs else "—")
        print(f"| {model} | {test} | " + " | ".join(cells + ratios) + f" | {len(rounds)} |")
