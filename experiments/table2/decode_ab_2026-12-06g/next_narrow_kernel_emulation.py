# Emulates, on the CPU, the warp-level fragments (ldmatrix, ldmatrix.trans, mma.m16n8k16, movmatrix.trans, as the
# PTX ISA lays them out) of the narrow path in next_narrow_kernel.diff.txt for one 16-key chunk of a tile (d 128,
# 8 queries): its scores S^T = K Q^T and its output O^T = V^T P^T (the scores standing in for the probabilities),
# against numpy. The same emulation of the wide path (HEAD's, tested on the GPU) checks the emulator itself.
# Run: python3 next_narrow_kernel_emulation.py (needs numpy). Output of 2026-12-06: every max error below 1e-13.
import numpy as np
rng = np.random.default_rng(0)
d = 128; ldq = d + 8; ldk = d + 8; ldv = d + 8; queries = 8
Q = rng.standard_normal((16, ldq)); Q[queries:] = 0
K = rng.standard_normal((64, ldk)); V = rng.standard_normal((64, ldv))
lanes = range(32)
g = lambda l: l // 4
t = lambda l: l % 4

def ldmatrix(arr, addr, trans=False):
    # addr(l) -> (row, col) of the row pointer lane l gives; returns regs[l] = list of 4 pairs
    regs = [[None] * 4 for _ in lanes]
    for m in range(4):
        M = np.array([[arr[addr(8 * m + r)[0], addr(8 * m + r)[1] + c] for c in range(8)] for r in range(8)])
        for l in lanes:
            if not trans:
                regs[l][m] = (M[g(l), 2 * t(l)], M[g(l), 2 * t(l) + 1])
            else:
                regs[l][m] = (M[2 * t(l), g(l)], M[2 * t(l) + 1, g(l)])
    return regs

def mma(C, A, B0, B1):
    # C[l] 4 floats; A[l] 4 pairs; B0[l], B1[l] pairs
    Am = np.zeros((16, 16)); Bm = np.zeros((16, 8))
    for l in lanes:
        a = A[l]
        Am[g(l), 2 * t(l):2 * t(l) + 2] = a[0]; Am[g(l) + 8, 2 * t(l):2 * t(l) + 2] = a[1]
        Am[g(l), 2 * t(l) + 8:2 * t(l) + 10] = a[2]; Am[g(l) + 8, 2 * t(l) + 8:2 * t(l) + 10] = a[3]
        Bm[2 * t(l):2 * t(l) + 2, g(l)] = B0[l]; Bm[2 * t(l) + 8:2 * t(l) + 10, g(l)] = B1[l]
    Cm = Am @ Bm
    for l in lanes:
        C[l][0] += Cm[g(l), 2 * t(l)]; C[l][1] += Cm[g(l), 2 * t(l) + 1]
        C[l][2] += Cm[g(l) + 8, 2 * t(l)]; C[l][3] += Cm[g(l) + 8, 2 * t(l) + 1]

def movmatrix_trans(x):
    X = np.zeros((8, 8))
    for l in lanes: X[g(l), 2 * t(l):2 * t(l) + 2] = x[l]
    return [(X[2 * t(l), g(l)], X[2 * t(l) + 1, g(l)]) for l in lanes]

c = 1  # chunk: keys 16..31
# queries' fragments
qf = {}
for kk in range(0, d, 32):
    r = ldmatrix(Q, lambda l: (l % 8, (l // 8) * 8 + kk))
    qf[kk // 16] = ([r[l][0] for l in lanes], [r[l][1] for l in lanes])
    qf[kk // 16 + 1] = ([r[l][2] for l in lanes], [r[l][3] for l in lanes])
s = [[0.0] * 4 for _ in lanes]; s_odd = [[0.0] * 4 for _ in lanes]
for kk in range(0, d, 32):
    ka = ldmatrix(K, lambda l: (c * 16 + l % 16, (l // 16) * 8 + kk))
    mma(s, ka, *qf[kk // 16])
    ka = ldmatrix(K, lambda l: (c * 16 + l % 16, (l // 16) * 8 + kk + 16))
    mma(s_odd, ka, *qf[kk // 16 + 1])
for l in lanes:
    for e in range(4): s[l][e] += s_odd[l][e]
# S^T check: s[l] = (key g, q 2t), (key g, q 2t+1), (key g+8, q 2t), (key g+8, q 2t+1)
S = Q[:8, :d] @ K[c * 16:c * 16 + 16, :d].T  # [q, key]
err = max(abs(s[l][0] - S[2 * t(l), g(l)]) + abs(s[l][3] - S[2 * t(l) + 1, g(l) + 8]) for l in lanes)
print("scores max err", err)
p = s  # probabilities: use the scores themselves (the products are what is checked)
pb0 = movmatrix_trans([(p[l][0], p[l][1]) for l in lanes])
pb1 = movmatrix_trans([(p[l][2], p[l][3]) for l in lanes])
o = [[[0.0] * 4 for _ in lanes] for n in range(d // 16)]
for n in range(d // 16):
    va = ldmatrix(V, lambda l: (c * 16 + (l // 16) * 8 + l % 8, ((l // 8) % 2) * 8 + n * 16), trans=True)
    mma(o[n], va, pb0, pb1)
O = S @ V[c * 16:c * 16 + 16, :d]  # [q, d]
ow = np.full((8, d), np.nan)
for l in lanes:
    for r in range(2):
        q = 2 * t(l) + r
        for n in range(d // 16):
            ow[q, n * 16 + g(l)] = o[n][l][r]; ow[q, n * 16 + g(l) + 8] = o[n][l][2 + r]
print("output max err", np.nanmax(abs(ow - O)), "unset", np.isnan(ow).sum())

# The wide path (GPU-validated since the eighth session): the emulator's semantics must reproduce it.
sw = [[[0.0] * 4 for _ in lanes] for _ in range(2)]
for kk in range(0, d, 16):
    qa = ldmatrix(Q, lambda l: (l % 16, (l // 16) * 8 + kk))
    kb = ldmatrix(K, lambda l: (c * 16 + l % 8 + (l // 16) * 8, ((l // 8) % 2) * 8 + kk))
    mma(sw[0], qa, [kb[l][0] for l in lanes], [kb[l][1] for l in lanes])
    mma(sw[1], qa, [kb[l][2] for l in lanes], [kb[l][3] for l in lanes])
# sw[n][l]: (q row g, key n*8 + 2t, +1), (q row g+8, ...)
S16 = Q[:16, :d] @ K[c * 16:c * 16 + 16, :d].T
err = max(abs(sw[n][l][0] - S16[g(l), n * 8 + 2 * t(l)]) + abs(sw[n][l][3] - S16[g(l) + 8, n * 8 + 2 * t(l) + 1])
          for n in range(2) for l in lanes)
print("wide scores max err", err)
pa = [[(sw[0][l][0], sw[0][l][1]), (sw[0][l][2], sw[0][l][3]), (sw[1][l][0], sw[1][l][1]), (sw[1][l][2], sw[1][l][3])]
      for l in lanes]
ow16 = np.zeros((16, d))
for n in range(0, d // 8, 2):
    vb = ldmatrix(V, lambda l: (c * 16 + l % 8 + ((l // 8) % 2) * 8, n * 8 + (l // 16) * 8), trans=True)
    o0 = [[0.0] * 4 for _ in lanes]; o1 = [[0.0] * 4 for _ in lanes]
    mma(o0, pa, [vb[l][0] for l in lanes], [vb[l][1] for l in lanes])
    mma(o1, pa, [vb[l][2] for l in lanes], [vb[l][3] for l in lanes])
    for l in lanes:
        for nn, oo in ((n, o0), (n + 1, o1)):
            ow16[g(l), nn * 8 + 2 * t(l)] = oo[l][0]; ow16[g(l), nn * 8 + 2 * t(l) + 1] = oo[l][1]
            ow16[g(l) + 8, nn * 8 + 2 * t(l)] = oo[l][2]; ow16[g(l) + 8, nn * 8 + 2 * t(l) + 1] = oo[l][3]
print("wide output max err", abs(ow16 - S16 @ V[c * 16:c * 16 + 16, :d]).max())
