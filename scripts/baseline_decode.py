#!/usr/bin/env python3
"""The Table 2 decoding benchmark written the way a PyTorch user would write it: the model as nn.Modules in eager
Python (tied embeddings, learned positions, pre-norm, no attention biases, as in src/mqa/model), a static
preallocated KV cache per decoder layer written with index_copy_, multi-query attention as an einsum against one
key/value head broadcast over the query heads, greedy and beam search of fixed length (no early stop); then the
same step captured as one CUDA graph (torch.cuda.graph, gpt-fast style: the graph reads the whole cache and masks
the positions not yet written). Timed like `mqa bench decode`: CUDA events, warm-up, median of repeats, encoder
(plus the decoder's cross-attention K/V) and decoder separately, microseconds per output token = time / (B * T).

Needs only python3 with torch (and PyYAML to read a config). Appends one JSON object per result to --json.

  python3 scripts/baseline_decode.py --config configs/wmt14/multi_query.yaml --json out.jsonl
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load_config(path):
    """A config YAML with its `base:` chain merged (the later file wins), like mqa's loader."""
    import yaml

    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    base = cfg.pop("base", None)
    if base is None:
        return cfg
    merged = load_config(os.path.join(os.path.dirname(path), base))
    for section, values in cfg.items():
        merged.setdefault(section, {}).update(values or {})
    return merged


class Attention(nn.Module):
    """h query heads, g key/value heads (g = 1: multi-query); query head i reads key/value head i // (h // g)."""

    def __init__(self, d, h, g, dk, dv):
        super().__init__()
        self.h, self.g, self.dk, self.dv = h, g, dk, dv
        self.q = nn.Linear(d, h * dk, bias=False)
        self.k = nn.Linear(d, g * dk, bias=False)
        self.v = nn.Linear(d, g * dv, bias=False)
        self.o = nn.Linear(h * dv, d, bias=False)

    def kv(self, x):  # x [B, S, D] -> K [B, g, S, dk], V [B, g, S, dv]
        b, s, _ = x.shape
        return (self.k(x).view(b, s, self.g, self.dk).transpose(1, 2),
                self.v(x).view(b, s, self.g, self.dv).transpose(1, 2))

    def attend(self, q, k, v, allowed):
        # q [B, r, g, h/g, T, dk] (r query rows per key/value row), k [B, g, S, dk]; allowed broadcasts to the
        # scores [B, r, g, h/g, T, S]. The key/value head is broadcast over its query heads, never copied.
        scores = torch.einsum("brgjtd,bgsd->brgjts", q, k) / math.sqrt(self.dk)
        if allowed is not None:
            scores = scores.masked_fill(~allowed, -1e30)
        p = torch.softmax(scores.float(), -1).to(v.dtype)
        return torch.einsum("brgjts,bgsd->brgjtd", p, v)

    def forward(self, x, memory, allowed=None):  # whole sequences (the encoder): x, memory [B, T|S, D]
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.g, self.h // self.g, self.dk).permute(0, 2, 3, 1, 4).unsqueeze(1)
        k, v = self.kv(memory)
        out = self.attend(q, k, v, allowed)  # [B, 1, g, h/g, T, dv]
        return self.o(out.squeeze(1).permute(0, 3, 1, 2, 4).reshape(b, t, self.h * self.dv))

    def step(self, x, k, v, allowed, rows_per_kv):
        # One position: x [N, D] with N = B * rows_per_kv; k, v [B, g, L, d]. Returns [N, D].
        n = x.shape[0]
        q = self.q(x).view(n // rows_per_kv, rows_per_kv, self.g, self.h // self.g, 1, self.dk)
        out = self.attend(q, k, v, allowed)  # [B, r, g, h/g, 1, dv]
        return self.o(out.reshape(n, self.h * self.dv))


class FeedForward(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.w1, self.w2 = nn.Linear(d, ff), nn.Linear(ff, d)

    def forward(self, x):
        return self.w2(F.relu(self.w1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attn = Attention(c["d_model"], c["heads"], c["kv_heads"], c["d_k"], c["d_v"])
        self.ffn = FeedForward(c["d_model"], c["d_ff"])
        self.n1, self.n2 = nn.LayerNorm(c["d_model"]), nn.LayerNorm(c["d_model"])

    def forward(self, x):
        y = self.n1(x)
        x = x + self.attn(y, y)
        return x + self.ffn(self.n2(x))


class KVCache(nn.Module):
    """Static [N, g, T, d] buffers, written in place at a position held in a device tensor (gpt-fast)."""

    def __init__(self, n, g, t, dk, dv, dtype, device):
        super().__init__()
        self.register_buffer("k", torch.zeros(n, g, t, dk, dtype=dtype, device=device))
        self.register_buffer("v", torch.zeros(n, g, t, dv, dtype=dtype, device=device))

    def write(self, pos, k, v):  # pos [1] long, k [N, g, 1, dk]
        self.k.index_copy_(2, pos, k)
        self.v.index_copy_(2, pos, v)


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.window = c.get("window", 0) or 0
        self.self_attn = Attention(d, c["heads"], c["kv_heads"], c["d_k"], c["d_v"])
        self.cross_attn = Attention(d, c["heads"], c["kv_heads"], c["d_k"], c["d_v"])
        self.ffn = FeedForward(d, c["d_ff"])
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def step(self, x, pos, pos_int, cache, cross_k, cross_v, beams):
        # x [N, D]. Eager (pos_int given): attend over the written cache slice. Graph (pos_int None): attend over
        # the whole cache with a mask from the position tensor.
        n = x.shape[0]
        y = self.n1(x)
        a = self.self_attn
        k_new = a.k(y).view(n, a.g, 1, a.dk)
        v_new = a.v(y).view(n, a.g, 1, a.dv)
        cache.write(pos, k_new, v_new)
        if pos_int is not None:
            lo = max(0, pos_int - self.window + 1) if self.window else 0
            k, v, allowed = cache.k[:, :, lo:pos_int + 1], cache.v[:, :, lo:pos_int + 1], None
        else:
            kpos = torch.arange(cache.k.shape[2], device=x.device)
            allowed = kpos <= pos
            if self.window:
                allowed = allowed & (kpos > pos - self.window)
            k, v = cache.k, cache.v
        x = x + a.step(y, k, v, allowed, 1)
        x = x + self.cross_attn.step(self.n2(x), cross_k, cross_v, None, beams)
        return x + self.ffn(self.n3(x))


class Seq2Seq(nn.Module):
    def __init__(self, c, vocab):
        super().__init__()
        d = c["d_model"]
        self.d = d
        self.embed = nn.Embedding(vocab, d)
        nn.init.normal_(self.embed.weight, std=d ** -0.5)
        self.pos = nn.Embedding(c.get("max_positions", 1024), d)
        nn.init.normal_(self.pos.weight, std=d ** -0.5)
        self.enc = nn.ModuleList(EncoderLayer(c) for _ in range(c["encoder_layers"]))
        self.dec = nn.ModuleList(DecoderLayer(c) for _ in range(c["decoder_layers"]))
        self.enc_norm, self.dec_norm = nn.LayerNorm(d), nn.LayerNorm(d)

    def encode(self, src):  # [B, S] -> memory [B, S, D]
        x = self.embed(src) * math.sqrt(self.d) + self.pos(torch.arange(src.shape[1], device=src.device))
        for layer in self.enc:
            x = layer(x)
        return self.enc_norm(x)

    def cross_kv(self, memory):  # once per source: per layer K, V [B, g, S, d]
        return [layer.cross_attn.kv(memory) for layer in self.dec]

    def step(self, tokens, pos, pos_int, caches, cross, beams):  # tokens [N], pos [1] -> logits [N, V]
        x = self.embed(tokens) * math.sqrt(self.d) + self.pos(pos)
        for layer, cache, (k, v) in zip(self.dec, caches, cross):
            x = layer.step(x, pos, pos_int, cache, k, v, beams)
        return self.dec_norm(x) @ self.embed.weight.t()


class Generator:
    """Static state of one fixed-length generation and its one step function (greedy or beam)."""

    def __init__(self, model, cfg, batch, src_len, steps, beams, device, dtype):
        c = cfg["model"]
        self.model, self.steps, self.beams, self.batch = model, steps, beams, batch
        n = batch * beams
        self.caches = [KVCache(n, c["kv_heads"], steps, c["d_k"], c["d_v"], dtype, device)
                       for _ in range(c["decoder_layers"])]
        g, S = c["kv_heads"], src_len
        self.cross = [(torch.zeros(batch, g, S, c["d_k"], dtype=dtype, device=device),
                       torch.zeros(batch, g, S, c["d_v"], dtype=dtype, device=device)) for _ in self.caches]
        self.tokens = torch.empty(n, dtype=torch.long, device=device)
        self.out = torch.zeros(n, steps, dtype=torch.long, device=device)
        self.scores = torch.empty(batch, beams, dtype=torch.float32, device=device)
        self.pos = torch.zeros(1, dtype=torch.long, device=device)
        self.first_row = (torch.arange(batch, device=device) * beams).unsqueeze(1)

    def set_source(self, src):
        for (k, v), (k_new, v_new) in zip(self.cross, self.model.cross_kv(self.model.encode(src))):
            k.copy_(k_new)
            v.copy_(v_new)

    def reset(self):
        self.tokens.fill_(2)
        self.out.zero_()
        self.scores.fill_(-1e9)
        self.scores[:, 0] = 0
        self.pos.zero_()

    def step(self, pos_int):
        logits = self.model.step(self.tokens, self.pos, pos_int, self.caches, self.cross, self.beams)
        if self.beams == 1:
            nxt = logits.argmax(-1)
            self.out.index_copy_(1, self.pos, nxt[:, None])
            self.tokens.copy_(nxt)
        else:
            n, vocab = logits.shape
            total = (self.scores.view(n, 1) + torch.log_softmax(logits.float(), -1)).view(self.batch, -1)
            best, index = total.topk(self.beams, -1)
            src_beam = torch.div(index, vocab, rounding_mode="floor")
            word = index - src_beam * vocab
            rows = (self.first_row + src_beam).view(n)
            hi = self.steps if pos_int is None else pos_int + 1
            for cache in self.caches:  # reorder the written prefix (the whole cache inside a graph)
                cache.k[:, :, :hi].copy_(cache.k[:, :, :hi].index_select(0, rows))
                cache.v[:, :, :hi].copy_(cache.v[:, :, :hi].index_select(0, rows))
            self.out.copy_(self.out.index_select(0, rows))
            self.out.index_copy_(1, self.pos, word.view(n, 1))
            self.tokens.copy_(word.view(n))
            self.scores.copy_(best)
        self.pos.add_(1)

    def generate_eager(self):
        for t in range(self.steps):
            self.step(t)

    def capture(self):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):  # warm-up on the capture stream
                self.reset()
                self.step(None)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.step(None)

    def generate_graph(self):
        for _ in range(self.steps):
            self.graph.replay()


def time_ms(fn, warmup, repeats, cuda):
    """Milliseconds per call of fn: CUDA events on the GPU, a host clock on the CPU (a smoke-test path)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": len(times)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--label", default=None)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--source-len", type=int, default=128)
    ap.add_argument("--target-len", type=int, default=128)
    ap.add_argument("--beam-size", type=int, default=4)
    ap.add_argument("--modes", default="greedy,beam")
    ap.add_argument("--graph", choices=["off", "on", "both"], default="both")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                    help="cpu: a smoke test of the code (fp32, eager only, host clock), not a benchmark")
    a = ap.parse_args()
    cuda = a.device == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("baseline_decode.py: expected a CUDA device (or --device cpu for a smoke test)")
    cfg = load_config(a.config)
    c = cfg["model"]
    vocab = c.get("vocab_size") or cfg.get("data", {}).get("vocab_size")
    label = a.label or os.path.splitext(os.path.basename(a.config))[0]
    device, dtype = torch.device(a.device), torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(a.seed)
    model = Seq2Seq(c, vocab).to(device, dtype).eval()
    src = torch.randint(4, vocab, (a.batch, a.source_len), device=device)
    graph_modes = {"off": [False], "on": [True], "both": [False, True]}[a.graph] if cuda else [False]
    tokens_out = a.batch * a.target_len
    with torch.no_grad():
        for mode in a.modes.split(","):
            beams = 1 if mode == "greedy" else a.beam_size
            gen = Generator(model, cfg, a.batch, a.source_len, a.target_len, beams, device, dtype)
            enc = time_ms(lambda: gen.set_source(src), a.warmup, a.repeats, cuda)
            eager_tokens = None
            for use_graph in graph_modes:
                if use_graph:
                    try:
                        gen.capture()
                    except Exception as e:  # report it and go on with the other runs
                        print(f"baseline {label} {mode}: CUDA graph capture failed: {e}", flush=True)
                        torch.cuda.synchronize()
                        continue
                    run = gen.generate_graph
                else:
                    run = gen.generate_eager

                def generation():
                    gen.reset()
                    run()

                dec = time_ms(generation, a.warmup, a.repeats, cuda)
                agreement = None
                if use_graph and eager_tokens is not None:
                    agreement = (gen.out == eager_tokens).double().mean().item()
                if not use_graph:
                    eager_tokens = gen.out.clone()
                r = {"kind": "baseline_decode", "label": label, "config": a.config, "mode": mode,
                     "cuda_graph": use_graph, "batch": a.batch, "beams": beams, "source_len": a.source_len,
                     "target_len": a.target_len, "precision": str(dtype).replace("torch.", ""),
                     "torch": torch.__version__, "device": torch.cuda.get_device_name() if cuda else "cpu", "warmup": a.warmup, "repeats": a.repeats,
                     "early_stop": False, "encoder_ms": enc, "decoder_ms": dec,
                     "encoder_us_per_token": enc["median"] * 1e3 / tokens_out,
                     "decoder_us_per_token": dec["median"] * 1e3 / tokens_out,
                     "graph_eager_agreement": agreement}
                print(f"baseline {label} {mode:6} graph={'on ' if use_graph else 'off'} "
                      f"encoder {r['encoder_us_per_token']:.3f} us/token, decoder {r['decoder_us_per_token']:.3f} "
                      f"us/token ({dec['min'] * 1e3 / tokens_out:.3f}..{dec['max'] * 1e3 / tokens_out:.3f})"
                      + (f", tokens equal to eager {agreement:.4f}" if agreement is not None else ""), flush=True)
                if a.json:
                    with open(a.json, "a") as f:
                        f.write(json.dumps(r) + "\n")
            del gen
            if cuda:
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
