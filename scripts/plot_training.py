#!/usr/bin/env python3
"""Training curves of mqa runs: the training loss and the dev ln(PPL) over optimizer steps, several runs on one plot.

usage: scripts/plot_training.py RUN_DIR [RUN_DIR ...] -o OUT.png [--title TEXT] [--labels A,B,...]

Reads each run directory's metrics.jsonl (written by `mqa train`: one JSON object a line; "split": "train" lines
carry "loss", the training loss per target token (label-smoothed when train.label_smoothing > 0), "split": "valid" lines carry "ln_ppl", the dev
per-token ln(PPL) without smoothing) and draws two panels into one PNG: training loss (left) and dev ln(PPL)
(right), one line per run, labelled with the run directory's name (or --labels); when every run validated only once
(at its end), the right panel compares those values side by side instead. Runs named *_seedN are drawn dashed (or
as squares) in the colour of their first seed. A step logged twice (a resumed run) keeps its last value. The loss
axis starts below the first logged losses (far above the rest) so that the runs can be told apart.

Needs matplotlib (Debian: apt-get install python3-matplotlib; run with /usr/bin/python3).
"""
import argparse
import json
import math
import os
import re
import sys


def fail(message):
    sys.exit(f"plot_training: error: {message}")


def read_metrics(run_dir):
    """(train [(step, loss)], valid [(step, ln_ppl)]) of a run directory, each sorted by step."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        fail(f"{path}: not found (a run directory of `mqa train` holds metrics.jsonl)")
    train, valid = {}, {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{number}: not a JSON object ({e})")
            split, step = row.get("split"), row.get("step")
            if split == "train" and "loss" in row:
                train[step] = row["loss"]
            elif split == "valid" and "ln_ppl" in row:
                valid[step] = row["ln_ppl"]
    if not train and not valid:
        fail(f"{path}: no training or validation lines")
    finite = lambda points: sorted((s, v) for s, v in points.items() if v is not None and math.isfinite(v))
    return finite(train), finite(valid)


def run_styles(names):
    """A colour per run, shared by the seeds of one row (NAME and NAME_seedN); later seeds dashed."""
    import matplotlib

    palette = matplotlib.colormaps["tab10"].colors if hasattr(matplotlib, "colormaps") else \
        matplotlib.cm.get_cmap("tab10").colors
    rows, styles = {}, []
    for name in names:
        m = re.fullmatch(r"(.*)_seed(\d+)", name)
        row = m.group(1) if m else name
        if row not in rows:
            rows[row] = palette[len(rows) % len(palette)]
        styles.append({"color": rows[row], "linestyle": "--" if m else "-"})
    return styles


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dirs", nargs="+", help="run directories (each with metrics.jsonl)")
    ap.add_argument("-o", "--output", required=True, help="the PNG to write")
    ap.add_argument("--title", default="", help="title above both panels")
    ap.add_argument("--labels", default="", help="comma-separated legend labels, one per run (default: directory names)")
    args = ap.parse_args()

    labels = [os.path.basename(os.path.normpath(d)) for d in args.run_dirs]
    if args.labels:
        labels = args.labels.split(",")
        if len(labels) != len(args.run_dirs):
            fail(f"--labels has {len(labels)} labels for {len(args.run_dirs)} run directories")
    runs = [read_metrics(d) for d in args.run_dirs]

    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_ppl) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = run_styles(labels)
    for (train, _), label, style in zip(runs, labels, styles):
        if train:
            ax_loss.plot(*zip(*train), label=label, linewidth=1.2, **style)
    ax_loss.set(title="training loss per target token (with train.label_smoothing)", xlabel="step", ylabel="loss")
    # The first logged losses are far above the rest; show the part where the runs differ.
    late = [v for train, _ in runs for s, v in train[len(train) // 4:]]
    if late:
        low, top = min(late), max(late)
        first = max((train[0][1] for train, _ in runs if train), default=top)
        ax_loss.set_ylim(low - 0.05 * (top - low + 1e-9), min(first, top + 0.6 * (top - low + 1e-9)))
    ax_loss.legend(fontsize=8, loc="upper right")
    if max(len(valid) for _, valid in runs) > 1:
        for (_, valid), label, style in zip(runs, labels, styles):
            if valid:
                ax_ppl.plot(*zip(*valid), label=label, linewidth=1.2, marker=".", markersize=4, **style)
        ax_ppl.set(title="dev ln(PPL) (per target token)", xlabel="step", ylabel="ln(PPL)")
    else:
        # One validation per run (at its end): a curve would be a dot, so compare the runs side by side.
        shown = [(label, valid[0], style) for (_, valid), label, style in zip(runs, labels, styles) if valid]
        for y, (label, (step, value), style) in enumerate(shown):
            ax_ppl.plot([value], [y], marker="o" if style["linestyle"] == "-" else "s", color=style["color"])
            ax_ppl.annotate(f"{value:.3f} (step {step})", (value, y), xytext=(6, -3), textcoords="offset points",
                            fontsize=8)
        ax_ppl.set_yticks(range(len(shown)), [label for label, _, _ in shown], fontsize=8)
        ax_ppl.invert_yaxis()
        ax_ppl.margins(x=0.4)
        ax_ppl.set(title="dev ln(PPL) at the last step (each run validated once)", xlabel="ln(PPL)")
    for ax in (ax_loss, ax_ppl):
        ax.grid(True, alpha=0.3)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"plot_training: {len(runs)} runs into {args.output}")


if __name__ == "__main__":
    main()
