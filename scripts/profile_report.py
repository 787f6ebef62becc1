#!/usr/bin/env python3
"""Sums a Kineto/Chrome kernel trace (`mqa bench decode|train --profile PREFIX`) into where the GPU time goes.

    python3 scripts/profile_report.py TRACE.json [--steps N] [--label NAME] [--top 15] [--out FILE.md]

Kernels are grouped into families by name (matrix multiply, attention, softmax, normalisation, reductions and
top-k, copies and indexing, elementwise). Reported per step (--steps: the decode steps or training steps the trace
covers): kernel count, summed kernel time, the span from the first kernel's start to the last one's end, and the
idle share of that span (time the GPU waits between kernels: launch or host bound). Standard library only.
"""
import argparse
import collections
import json
import re
import sys

FAMILIES = [  # first match wins; names of cuBLAS/cuBLASLt/CUTLASS/flash kernels as seen on Hopper
    ("attention (fused)", r"flash|fmha|efficient_attention|attention|combine_kernel"),
    ("matmul", r"gemm|nvjet|cutlass|xmma|cublas|Kernel2|splitK|sm90_|sm80_"),
    ("softmax", r"softmax"),
    ("normalisation", r"layer_norm|LayerNorm|layernorm|rms_norm"),
    ("reduction / top-k", r"reduce|topk|sort|radix|argmax|max_kernel|bitonic|gatherTopK|scan|pick"),
    ("copy / index", r"copy|index|gather|scatter|cat|Memcpy|Memset|memcpy|memset|fill|arange|embed_kernel"),
    ("elementwise", r"elementwise|vectorized|unrolled|pointwise"),
]


def family(name):
    for fam, pattern in FAMILIES:
        if re.search(pattern, name, re.IGNORECASE):
            return fam
    return "other"


# Template wrappers of ATen's elementwise kernels: the operation is named by the other at::native words of the name.
ATEN_WRAPPERS = {"elementwise_kernel", "vectorized_elementwise_kernel", "unrolled_elementwise_kernel",
                 "gpu_kernel_impl", "gpu_kernel_impl_nocast", "index_elementwise_kernel", "launch_kernel"}


def short(name, width=90):
    """The kernel's name cut to `width`; where that cuts off what an ATen kernel computes (its functor or launcher
    sits deep in the template arguments), the at::native words of the whole name follow in brackets."""
    name = re.sub(r"\s+", " ", name)
    if len(name) <= width:
        return name
    words = []
    for w in re.findall(r"at::native::(?:\(anonymous namespace\)::)?(\w+)", name):
        if w not in ATEN_WRAPPERS and w not in words:
            words.append(w)
    return name[: width - 3] + "..." + (f" [{', '.join(words[:6])}]" if words else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=1, help="steps the trace covers (results are per step)")
    ap.add_argument("--label", default="")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--out", help="append the markdown here (default: stdout)")
    a = ap.parse_args()
    with open(a.trace) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    kernels = [e for e in events if e.get("ph") == "X" and e.get("cat", "").lower() in ("kernel", "gpu_memcpy", "gpu_memset")]
    if not kernels:
        sys.exit(f"profile_report: no kernel events in {a.trace} (was CUPTI available?)")
    busy = sum(e["dur"] for e in kernels)
    start = min(e["ts"] for e in kernels)
    end = max(e["ts"] + e["dur"] for e in kernels)
    span = end - start
    n = a.steps
    by_family = collections.defaultdict(lambda: [0, 0.0])
    by_name = collections.defaultdict(lambda: [0, 0.0])
    for e in kernels:
        fam = family(e["name"])
        by_family[fam][0] += 1
        by_family[fam][1] += e["dur"]
        by_name[e["name"]][0] += 1
        by_name[e["name"]][1] += e["dur"]
    lines = [f"### Kernel profile{': ' + a.label if a.label else ''}", "",
             f"Trace `{a.trace}`: {len(kernels)} kernels over {n} step(s) = {len(kernels) / n:.0f} kernels per step; "
             f"kernel time {busy / n:.1f} us per step, span {span / n:.1f} us per step, GPU idle between kernels "
             f"{100 * (1 - busy / span):.0f}% of the span; mean kernel {busy / len(kernels):.2f} us.", "",
             "| Kernel family | Kernels per step | us per step | Share of kernel time | Mean us per kernel |",
             "|---|---:|---:|---:|---:|"]
    for fam, (count, dur) in sorted(by_family.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"| {fam} | {count / n:.1f} | {dur / n:.1f} | {100 * dur / busy:.0f}% | {dur / count:.2f} |")
    lines += ["", f"Top {a.top} kernels by time:", "", "| Kernel | Family | Calls per step | us per step | Mean us |",
              "|---|---|---:|---:|---:|"]
    for name, (count, dur) in sorted(by_name.items(), key=lambda kv: -kv[1][1])[: a.top]:
        lines.append(f"| `{short(name)}` | {family(name)} | {count / n:.1f} | {dur / n:.1f} | {dur / count:.2f} |")
    text = "\n".join(lines) + "\n\n"
    if a.out:
        with open(a.out, "a") as f:
            f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
