#!/usr/bin/env python3
# What a save + validation costs a run: per run directory, the median 50-step log window of metrics.jsonl against the
# median window that starts at a multiple of 250 steps (the one holding the save and the validation), and the
# difference. Whether the run wrote its checkpoints in the background is read from its train.log.
#   python3 scripts/save_window_cost.py experiments/table1/real/runs/*/
import json, os, statistics, sys
for d in sys.argv[1:]:
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl")) if l.strip()]
    t = [r for r in rows if r.get("split") == "train"]
    normal, after = [], []
    for a, b in zip(t, t[1:]):
        if b["step"] - a["step"] != 50:
            continue
        dt = b["elapsed"] - a["elapsed"]
        if a["step"] % 250 == 0:
            after.append(dt)
        elif a["step"] > 100:
            normal.append(dt)
    background = "in the background" in open(os.path.join(d, "train.log")).read()
    n, s = statistics.median(normal), statistics.median(after)
    print(f"{os.path.basename(os.path.normpath(d)):22s} background={background!s:5} normal window {n:.3f} s, "
          f"save/valid window {s:.3f} s, extra {s - n:.3f} s")
