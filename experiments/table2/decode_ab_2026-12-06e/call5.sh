#!/usr/bin/env bash
# Session 9 call 5: where translate's default run spends its one-time costs (first batch, each new width): nsys's
# CUDA API summary of a default run; the same run with CUDA_MODULE_LOADING=EAGER.
set -uo pipefail
export OUT=${OUT:-/tmp/out}
T0=$(date +%s)
(which nsys; ls /usr/local/cuda/bin | grep -i nsys; ls /opt/nvidia 2>/dev/null) > $OUT/tools.txt 2>&1; cat $OUT/tools.txt
PREPARE_SHAPES=false bash scripts/translate_throughput.sh > $OUT/tt.log 2>&1; echo "tt rc $? at $(( $(date +%s) - T0 )) s"; tail -3 $OUT/tt.log
source scripts/mqa_build.sh
ck=/tmp/mqa-translate/run/checkpoint_last.pt; in=.carry/newstest/newstest2014.en
for m in LAZY EAGER; do
  CUDA_MODULE_LOADING=$m timeout 60 $MQA translate $ck --input $in --beam 4 --device cuda --output /tmp/o_$m.txt --json $OUT/translate_$m.json 2> $OUT/translate_$m.log; echo "$m rc $?"; grep "translate:" $OUT/translate_$m.log | tail -1
done
python3 - <<'PY' > $OUT/first_batches.txt
import json, os
for m in ("LAZY", "EAGER"):
    d = json.load(open(os.environ["OUT"] + "/translate_%s.json" % m))
    b = d["batches"]
    print(m, "seconds %.3f" % d["seconds"], "first batches enc/dec ms:", [(round(x["encode_ms"], 1), round(x["decode_ms"], 1)) for x in b[:3]])
PY
cat $OUT/first_batches.txt
NSYS=$(which nsys 2>/dev/null || ls /usr/local/cuda/bin/nsys 2>/dev/null || find / -name nsys -type f 2>/dev/null | head -1)
if [[ -n $NSYS ]]; then
  timeout 150 $NSYS profile -t cuda,osrt --sample=none --cpuctxsw=none -o $OUT/tr --force-overwrite true $MQA translate $ck --input $in --beam 4 --device cuda --output /tmp/o_n.txt > $OUT/nsys.log 2>&1; echo "nsys rc $?"
  timeout 120 $NSYS stats -r cuda_api_sum,cuda_gpu_kern_sum,osrt_sum,cuda_api_trace --format csv -o $OUT/st $OUT/tr.nsys-rep > $OUT/nsys_stats.log 2>&1; echo "stats rc $?"
  ls $OUT; head -30 $OUT/st_cuda_api_sum.csv 2>/dev/null
  python3 - <<'PY' > $OUT/api_long_calls.txt
import csv, os, glob
f = glob.glob(os.environ["OUT"] + "/st_cuda_api_trace*.csv")
rows = list(csv.DictReader(open(f[0]))) if f else []
print(len(rows), "API calls;", rows[0].keys() if rows else "")
t0 = float(rows[0]["Start (ns)"]) if rows else 0
for r in rows:
    d = float(r["Duration (ns)"])
    if d > 300e3:
        print("%9.3f ms  %8.3f ms  %s" % ((float(r["Start (ns)"]) - t0) / 1e6, d / 1e6, r["Name"]))
PY
  head -120 $OUT/api_long_calls.txt
  rm -f $OUT/tr.sqlite $OUT/st_cuda_api_trace*.csv
fi
cd $OUT && tar czf logs.tar.gz *.log *.txt *.csv *.json 2>/dev/null; ls $OUT
