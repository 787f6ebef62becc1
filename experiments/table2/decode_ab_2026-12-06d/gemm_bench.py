# Decode-step GEMM shapes (multi_query: d 1024, d_ff 5440, vocab 32000) timed with F.linear, bf16, in a CUDA graph of
# 50 calls (launch gaps excluded as in the decoder), under the environment given (TunableOp etc.).
import os, sys, torch
import torch.nn.functional as F
label = sys.argv[1] if len(sys.argv) > 1 else "default"
shapes = [(1024, 1024), (1024, 1280), (1024, 2048), (1024, 5440), (5440, 1024), (1024, 32000)]
for M in (128, 1024):
    row = []
    for K, N in shapes:
        x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(N, device="cuda", dtype=torch.bfloat16)
        for _ in range(5): F.linear(x, w)
        torch.cuda.synchronize()
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            for _ in range(3): F.linear(x, w)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(50): y = F.linear(x, w)
        g.replay(); torch.cuda.synchronize()
        st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        st.record()
        for _ in range(10): g.replay()
        en.record(); torch.cuda.synchronize()
        us = st.elapsed_time(en) * 1000 / 500
        tf = 2 * M * K * N / us / 1e6
        gbs = (K * N * 2 + M * K * 2 + M * N * 2) / us / 1e3
        row.append(f"{K}x{N}: {us:.2f} us ({tf:.0f} TF/s, {gbs:.0f} GB/s)")
    print(f"{label} M={M}: " + " | ".join(row), flush=True)
