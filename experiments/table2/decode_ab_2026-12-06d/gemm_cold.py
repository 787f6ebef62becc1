# Is a decode-step GEMM slower in the step than alone because its weights come from DRAM (evicted from L2 by the
# attention's streaming)? Times, in CUDA graphs of 20 repeats: a GEMM alone (warm L2), after a 256-MB copy that flushes
# L2 (its input then re-touched, as a step's input is fresh in L2), and the same with its weights read once just before
# (an L2 prefetch: w.sum()). Differences of graph times isolate each piece.
import torch
import torch.nn.functional as F
src = torch.empty(128 << 20, dtype=torch.uint8, device="cuda"); dst = torch.empty_like(src)
def timed(fns, reps=20):
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for f in fns: f()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(reps):
            for f in fns: f()
    g.replay(); torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(5): g.replay()
    b.record(); torch.cuda.synchronize()
    return a.elapsed_time(b) * 1000 / (5 * reps)
for M in (128, 1024):
    for K, N in ((1024, 1024), (1024, 1280), (1024, 5440), (5440, 1024), (1024, 32000)):
        x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
        sink = torch.empty((), device="cuda", dtype=torch.float32)
        flush = lambda: dst.copy_(src)
        touch_x = lambda: torch.sum(x, dim=(0, 1), dtype=torch.float32, out=sink)
        pref_w = lambda: torch.sum(w, dim=(0, 1), dtype=torch.float32, out=sink)
        gemm = lambda: F.linear(x, w)
        warm = timed([gemm])
        base = timed([flush, touch_x])
        cold = timed([flush, touch_x, gemm]) - base
        base_p = timed([flush, touch_x, pref_w])
        pref = timed([flush, touch_x, pref_w, gemm]) - base_p
        print(f"M {M} K {K} N {N}: warm {warm:.2f} us, cold weights {cold:.2f} us, weights prefetched {pref:.2f} us "
              f"(prefetch itself {base_p - base:.2f} us)", flush=True)
