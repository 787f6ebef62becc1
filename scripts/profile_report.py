#!/usr/bin/env python3
"""Sums a Kineto/Chrome kernel trace (`mqa bench decode|train --profile PREFIX`) into where the GPU time goes.

    python3 scripts/profile_report.py TRACE.json [--steps N] [--label NAME] [--top 15] [--out FILE.md] [--no-ops]

Kernels are grouped into families by name (matrix multiply, attention, softmax, normalisation, reductions and
top-k, copies and indexing, elementwise). Reported per step (--steps: the decode steps or training steps the trace
covers): kernel count, summed kernel time, the span from the first kernel's start to the last one's end, and the
idle share of that span (time the GPU waits between kernels: launch or host bound). A generic ATen kernel's name
(say `elementwise_kernel<... CUDAFunctor_add>`) does not say which operation of the model it belongs to, so each top
kernel is also split by its launch chain: the CPU operators around its launch (autograd node, user scope, aten ops),
found through the kernel's External id. Standard library only.
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


SCOPES = ("cpu_op", "user_annotation", "python_function")  # CPU events that can enclose a kernel's launch
RUNTIME = ("cuda_runtime", "cuda_driver")  # cudaLaunchKernel and friends: link a kernel by correlation to its thread
AUTOGRAD = "autograd::engine::evaluate_function: "
UNLINKED = "(no CPU op)"


def launch_chains(events, kernels):
    """The launch chain of each kernel (same order), or None where no kernel links to a CPU operator. A chain is
    the names of the kernel's CPU op and its ancestors, outermost first, without python functions (noise beside the
    aten ops they call); the autograd node loses its prefix, so its bare duplicate underneath collapses into it."""
    scopes = [e for e in events if e.get("ph") == "X" and e.get("cat") in SCOPES]
    runtime = [e for e in events if e.get("ph") == "X" and e.get("cat") in RUNTIME]
    # Nesting per thread in one sweep: sorted by start (longer first on ties), each event's parent is the innermost
    # open scope. Popped by start, not by end: Kineto rounds ts and dur apart, so a child can end just past its parent.
    parent = {}
    threads = collections.defaultdict(list)
    for e in scopes + runtime:
        threads[(e.get("pid"), e.get("tid"))].append(e)
    for evs in threads.values():
        stack = []
        for e in sorted(evs, key=lambda e: (e["ts"], -e["dur"])):
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            parent[id(e)] = stack[-1] if stack else None
            if e["cat"] in SCOPES:
                stack.append(e)
    # A kernel's External id is that of the innermost op (or user scope) around its launch.
    by_ext = {e["args"]["External id"]: e for e in scopes if e.get("args", {}).get("External id")}
    by_corr = {e["args"]["correlation"]: e for e in runtime if "correlation" in e.get("args", {})}
    chains = []
    linked = False
    for k in kernels:
        args = k.get("args", {})
        op = by_ext.get(args.get("External id"))
        if op is None and args.get("correlation") in by_corr:  # no External id: the op around the launch call
            op = parent[id(by_corr[args["correlation"]])]
        names = []
        while op is not None:
            if op["cat"] != "python_function":
                name = op["name"].removeprefix(AUTOGRAD)
                if not names or names[-1] != name:
                    names.append(name)
            op = parent[id(op)]
        names.reverse()
        if len(names) > 4:
            names = [names[0], "…"] + names[-2:]
        linked = linked or bool(names)
        chains.append(" > ".join(names) or UNLINKED)
    return chains if linked else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=1, help="steps the trace covers (results are per step)")
    ap.add_argument("--label", default="")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--out", help="append the markdown here (default: stdout)")
    ap.add_argument("--no-ops", action="store_true", help="skip naming the CPU operations that launched the kernels")
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
    top = sorted(by_name.items(), key=lambda kv: -kv[1][1])[: a.top]
    for name, (count, dur) in top:
        lines.append(f"| `{short(name)}` | {family(name)} | {count / n:.1f} | {dur / n:.1f} | {dur / count:.2f} |")
    if not a.no_ops:
        chains = launch_chains(events, kernels)
        if chains is None:
            lines += ["", "Launched by: the trace carries no CPU operators linked to its kernels (no cpu_op events "
                      "or External ids), so no attribution."]
        else:
            by_chain = collections.defaultdict(lambda: collections.defaultdict(lambda: [0, 0.0]))
            for e, chain in zip(kernels, chains):
                by_chain[e["name"]][chain][0] += 1
                by_chain[e["name"]][chain][1] += e["dur"]
            lines += ["", "Launched by (top kernels; up to 3 launch chains each, most time first):", "",
                      "| Kernel (short name) | Launch chain | Calls per step | us per step |", "|---|---|---:|---:|"]
            for name, _ in top:
                for chain, (count, dur) in sorted(by_chain[name].items(), key=lambda kv: -kv[1][1])[:3]:
                    lines.append(f"| `{short(name)}` | {chain} | {count / n:.1f} | {dur / n:.1f} |")
    text = "\n".join(lines) + "\n\n"
    if a.out:
        with open(a.out, "a") as f:
            f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
