# Sourced by the prepare scripts: sets $MQA to a built mqa executable (builds the `mqa` target when needed).
# Override with MQA=/path/to/mqa.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${MQA:-} ]]; then
  MQA=$root/build/mqa
  if [[ ! -x $MQA ]]; then
    echo "building mqa in $root/build"
    cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$root/build" --target mqa mqa_spm
  fi
fi
[[ -x $MQA ]] || { echo "error: $MQA is not an executable" >&2; exit 1; }
