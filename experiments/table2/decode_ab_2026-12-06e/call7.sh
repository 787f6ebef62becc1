#!/usr/bin/env bash
# Session 9 call 7: a split-K-over-a-cluster GEMM for the decode step's 128-row GEMMs against cuBLAS (standalone).
set -uo pipefail
export OUT=${OUT:-/tmp/out}
NVCC=/usr/local/cuda/bin/nvcc; [[ -x $NVCC ]] || NVCC=$(which nvcc)
lib=/usr/local/cuda/lib64
[[ -e $lib/libcublas.so ]] || lib=$(dirname "$(python3 -c 'import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), "lib", "x"))' 2>/dev/null)")
ls $lib | grep -i cublas | head -3
inc=""; [[ -e /usr/local/cuda/include/cublas_v2.h ]] || inc="-I$(python3 -c 'import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), "include"))')"
cublas_so=$(ls $lib/libcublas.so* | head -1)
$NVCC -std=c++17 -O3 -arch=sm_90 $inc .carry/small_m_gemm.cu $cublas_so -Xlinker -rpath=$lib -o /tmp/small_m_gemm 2>&1 | tail -5
LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-} /tmp/small_m_gemm 2>&1 | tee $OUT/small_m_gemm.txt
