#!/usr/bin/env python3
"""Table of a bench/compare_decode.sh log: per (model, threads) the median t/s of each engine, the
median of the per-round ratios r1 / llama.cpp, and the load average seen at the start of the runs."""
import collections
import re
import statistics
import sys

rows = collections.OrderedDict()
cur = None
for line in open(sys.argv[1]):
    m = re.match(r'round (\d+) (\S+) t(\d+) (\S+)', line)
    if m:
        cur = (m.group(2), m.group(3))
        rows.setdefault(cur, {'r1': [], 'llama': [], 'load': []})['load'].append(float(m.group(4)))
        continue
    m = re.match(r'(r1|llama)\s+([\d.]+)', line)
    if m and cur:
        rows[cur][m.group(1)].append(float(m.group(2)))

print('| model | threads | r1 t/s | llama.cpp t/s | r1 / llama.cpp | rounds | load |')
print('|---|---:|---:|---:|---:|---:|---|')
for (model, threads), d in rows.items():
    n = min(len(d['r1']), len(d['llama']))
    if n == 0:
        continue
    ratios = [a / b for a, b in zip(d['r1'][:n], d['llama'][:n])]
    print('| %s | %s | %.2f | %.2f | %.2f | %d | %.1f–%.1f |' % (
        model.removesuffix('.gguf'), threads, statistics.median(d['r1'][:n]), statistics.median(d['llama'][:n]),
        statistics.median(ratios), n, min(d['load']), max(d['load'])))
    print('  %s t%s per round: r1 %s, llama.cpp %s' % (model, threads, d['r1'][:n], d['llama'][:n]), file=sys.stderr)
