#!/usr/bin/env python3
"""Draws the greedy decoding sweep of scripts/table2.sh (`mqa bench decode --batches ... --lengths ...` JSON Lines)
to a PNG: microseconds per output token over the batch size, one panel per target length, multi-head and
multi-query measured (solid) beside their bytes/FLOPs floors (dashed). Needs matplotlib.

  python3 scripts/plot_table2.py experiments/table2/sweep.jsonl -o experiments/table2/table2_sweep.png
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NAMES = {"base": "multi-head", "multi_query": "multi-query"}
COLORS = {"base": "tab:red", "multi_query": "tab:blue"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("jsonl", nargs="+")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    recs = []
    for path in a.jsonl:
        with open(path) as f:
            recs += [json.loads(line) for line in f if line.strip()]
    recs = [r for r in recs if r.get("kind") == "decode" and r.get("sweep") and r["mode"] == "greedy"]
    if not recs:
        raise SystemExit("plot_table2.py: no sweep records (mqa bench decode --batches/--lengths, greedy) in the input")
    lengths = sorted({r["target_len"] for r in recs})
    fig, axes = plt.subplots(1, len(lengths), figsize=(5 * len(lengths), 4.2), squeeze=False)
    for ax, t in zip(axes[0], lengths):
        for label in NAMES:
            pts = sorted((r["batch"], r["decoder_us_per_token"], r["roofline"]["floor_us_per_token"])
                         for r in recs if r["label"] == label and r["target_len"] == t)
            if not pts:
                continue
            b, us, floor = zip(*pts)
            ax.plot(b, us, "o-", color=COLORS[label], label=f"{NAMES[label]} measured")
            ax.plot(b, floor, "--", color=COLORS[label], alpha=0.7, label=f"{NAMES[label]} floor")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch (sentences)")
        ax.set_title(f"target length {t}, source 128")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("decoder microseconds per output token")
    axes[0][0].legend(fontsize=8)
    r0 = recs[0]
    fig.suptitle(f"Greedy decoding, {r0.get('device')}, {r0.get('precision')}: mqa against the bytes/FLOPs floor")
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
