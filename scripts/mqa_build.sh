# Sourced by the scripts that run mqa: sets $MQA to a built mqa executable. Override with MQA=/path/to/mqa.
# - On the GPU machine (.deps/build-on-gpu.sh carried, a GPU visible; ../shared/gpu/README.md): builds build-gpu/
#   against the LibTorch inside PyTorch's wheel (incrementally: a warm machine keeps build-gpu/), its output in
#   $MQA_BUILD_LOG (default /tmp/mqa-build-gpu.log), and puts the unpacked Debian libraries on LD_LIBRARY_PATH.
# - Elsewhere: build/mqa, building the `mqa` target when it is missing.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${MQA:-} ]]; then
  if [[ -f $root/.deps/build-on-gpu.sh ]] && command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi > /dev/null 2>&1; then
    build_log=${MQA_BUILD_LOG:-/tmp/mqa-build-gpu.log}
    (cd "$root" && bash .deps/build-on-gpu.sh) > "$build_log" 2>&1 || { tail -60 "$build_log"; exit 1; }
    export LD_LIBRARY_PATH=/opt/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
    MQA=$root/build-gpu/mqa
  else
    MQA=$root/build/mqa
    if [[ ! -x $MQA ]]; then
      echo "building mqa in $root/build"
      cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
      cmake --build "$root/build" --target mqa mqa_spm
    fi
  fi
fi
[[ -x $MQA ]] || { echo "error: $MQA is not an executable" >&2; exit 1; }
