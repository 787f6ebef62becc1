#!/usr/bin/env bash
# Session 8 call 7: why a 1024x1024 GEMM takes ~9.8 us inside the B 1024 decode step and ~6 us alone (cold L2 alone
# explains +0.45 us): SM clocks during the step, and Nsight Compute on the step's GEMMs at real clocks.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
MQA_BUILD_LOG=$OUT/build.log source scripts/mqa_build.sh; tail -1 $OUT/build.log
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active --format=csv -lms 200 > $OUT/clocks.csv 2>&1 &
SMI=$!
timeout 60 $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 2048 --set bench.warmup=1 --set bench.repeats=2 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda 2>&1 | grep -E "^  \|"
kill $SMI; sort -t, -k2 $OUT/clocks.csv | head -3; echo ...; awk -F, 'NR>1{print $2, $4, $6}' $OUT/clocks.csv | sort | uniq -c | sort -rn | head -12
echo "bench done at $(( $(date +%s) - T0 )) s"
timeout 120 /usr/local/cuda/bin/ncu --clock-control none --kernel-name regex:"nvjet|tensor_core|layernorm|greedy" --launch-skip 3000 --launch-count 40 --section SpeedOfLight --section LaunchStats $MQA bench decode configs/wmt14/multi_query.yaml --modes greedy --batches 1024 --lengths 128 --set bench.warmup=0 --set bench.repeats=1 --set bench.check_graph=false --set bench.source_len=128 --set bench.device=cuda > $OUT/ncu_gemm_b1024.txt 2>&1
echo "ncu rc $? at $(( $(date +%s) - T0 )) s"
grep -E "^  [a-zA-Z_].*\(|SM Frequency|Duration|Compute \(SM\) Throughput|DRAM Throughput|Grid Size" $OUT/ncu_gemm_b1024.txt | cut -c1-100 | head -120
