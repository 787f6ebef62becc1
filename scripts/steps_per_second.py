#!/usr/bin/env python3
# Steps per second of a run from its metrics.jsonl, between the second and the last train lines (the first window
# holds start-up), and its training loss at the first and last lines: python3 scripts/steps_per_second.py RUN/metrics.jsonl
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = [r for r in rows if r.get("split") == "train"]
a, b = t[1], t[-1]
secs = b["elapsed"] - a["elapsed"]
print(f"steps {a['step']}-{b['step']} in {secs:.3f} s: {(b['step'] - a['step']) / secs:.2f} steps/s; "
      f"loss at step {t[0]['step']} {t[0]['loss']:.4f}, at {b['step']} {b['loss']:.4f}")
