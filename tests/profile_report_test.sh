#!/usr/bin/env bash
# ctest: scripts/profile_report.py names the CPU operation that launched each top kernel, on a handcrafted Kineto
# trace (tests/data/profile/tiny_trace.json): forward ops (one under a python function, left out), an autograd node
# on its own thread, a user scope five names deep (cut to four), and one kernel without an External id (linked through
# its correlation to the cudaLaunchKernel call). The add kernel is launched by a forward add and by AddBackward0: the
# point of the table is to tell the two apart.
# Usage: profile_report_test.sh [REPO_ROOT]
set -euo pipefail
root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$root"
trace=tests/data/profile/tiny_trace.json
work=$(mktemp -d "${TMPDIR:-/tmp}/mqa_profile_report.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() { echo "error: $1" >&2; echo "--- report:" >&2; cat "$2" >&2; exit 1; }
expect() {  # expect REPORT TEXT: the report holds TEXT verbatim
  grep -qF -- "$2" "$1" || fail "expected the line part '$2'" "$1"
}

python3 scripts/profile_report.py "$trace" --top 5 > "$work/full.md"
expect "$work/full.md" "Launched by (top kernels"
expect "$work/full.md" "| \`nvjet_tst_128x256_64x4_1x2_h_bz_coopA_NTT\` | aten::linear > aten::addmm | 1.0 | 50.0 |"
expect "$work/full.md" "[CUDAFunctor_add]\` | AddBackward0 > aten::add_ | 2.0 | 20.0 |"
expect "$work/full.md" "[CUDAFunctor_add]\` | aten::add | 1.0 | 6.0 |"
expect "$work/full.md" "[clamp_min_scalar_kernel_impl]\` | aten::relu > aten::clamp_min | 1.0 | 8.0 |"
expect "$work/full.md" "| loss > … > aten::_to_copy > aten::copy_ | 1.0 | 12.0 |"
expect "$work/full.md" "[FillFunctor]\` | aten::zeros > aten::zero_ > aten::fill_ | 1.0 | 4.0 |"
# Most time first: the backward accumulation (20 us) before the forward add (6 us).
backward=$(grep -nF "| AddBackward0 > aten::add_ |" "$work/full.md" | cut -d: -f1)
forward=$(grep -nF "| aten::add |" "$work/full.md" | cut -d: -f1)
(( backward < forward )) || fail "the add kernel's launch chains are not listed most time first" "$work/full.md"

# --no-ops: the report as it was before the attribution, which the full report begins with unchanged.
python3 scripts/profile_report.py "$trace" --top 5 --no-ops > "$work/no_ops.md"
grep -qF "Launched by" "$work/no_ops.md" && fail "--no-ops printed the launch table" "$work/no_ops.md"
expect "$work/no_ops.md" "Top 5 kernels by time:"
head -c "$(wc -c < "$work/no_ops.md")" "$work/full.md" | cmp -s - "$work/no_ops.md" \
  || fail "the report before the launch table differs from the --no-ops report" "$work/full.md"

# A trace without CPU operators (as with CPU activity off) says so in one line instead of the table.
python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))
t["traceEvents"] = [e for e in t["traceEvents"] if e.get("cat") not in ("cpu_op", "user_annotation", "python_function")]
json.dump(t, open(sys.argv[2], "w"))' "$trace" "$work/no_cpu_ops.json"
python3 scripts/profile_report.py "$work/no_cpu_ops.json" --top 5 > "$work/no_cpu_ops.md"
expect "$work/no_cpu_ops.md" "Launched by: the trace carries no CPU operators"
grep -qF "| Kernel (short name) |" "$work/no_cpu_ops.md" && fail "printed a launch table without CPU operators" \
  "$work/no_cpu_ops.md"
echo "profile_report: launch chains, --no-ops and a trace without CPU operators as expected"
