# Sourced by the scripts that run mqa: sets $MQA to a built mqa executable. Override with MQA=/path/to/mqa.
# - On a machine with a working GPU (nvidia-smi): builds build-gpu/ against the LibTorch inside python3's PyTorch
#   (scripts/setup.sh --libtorch python; incremental: a warm machine keeps build-gpu/), with the other packages from
#   .deps/debs when that is there (machines without apt; scripts/fetch_debs.sh), its output in $MQA_BUILD_LOG
#   (default /tmp/mqa-build-gpu.log), and puts the unpacked libraries on LD_LIBRARY_PATH.
# - Elsewhere: build/mqa, building the `mqa` target when it is missing.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${MQA:-} ]]; then
  if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi > /dev/null 2>&1; then
    build_log=${MQA_BUILD_LOG:-/tmp/mqa-build-gpu.log}
    setup_args=(--libtorch python --build-dir "$root/build-gpu")
    [[ -d $root/.deps/debs ]] && setup_args+=(--debs "$root/.deps/debs")
    bash "$root/scripts/setup.sh" "${setup_args[@]}" > "$build_log" 2>&1 || { tail -60 "$build_log"; exit 1; }
    export LD_LIBRARY_PATH=$root/build-gpu/deps/usr/lib/$(uname -m)-linux-gnu:${LD_LIBRARY_PATH:-}
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
