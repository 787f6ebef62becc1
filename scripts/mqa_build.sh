# Sourced by the scripts that run mqa: sets $MQA to a built mqa executable. Override with MQA=/path/to/mqa.
# - On a machine with a working GPU (nvidia-smi): builds build-gpu/ against the LibTorch inside python3's PyTorch
#   (scripts/setup.sh --libtorch python; incremental: a warm machine keeps build-gpu/), with the other packages from
#   .deps/debs when that is there (machines without apt; scripts/fetch_debs.sh), its output in $MQA_BUILD_LOG
#   (default /tmp/mqa-build-gpu.log), and puts the unpacked libraries on LD_LIBRARY_PATH.
#   A fresh GPU machine spends ~2 minutes of its call on that build. A build packed by an earlier call
#   (MQA_PACK_BUILD=FILE: mqa, libmqa_spm.so and the unpacked libraries in a .tar.gz) and unpacked here into
#   .prebuilt/gpu (carry .prebuilt) is used instead, when it was built from the same sources (SOURCE_HASH: src/ and
#   CMakeLists.txt) and python3's torch is the version it was built against (TORCH_VERSION); else the build runs.
# - Elsewhere: build/mqa, building the `mqa` target when it is missing.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mqa_source_hash() {
  (cd "$root" && find src CMakeLists.txt -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
mqa_torch_version() { python3 -c 'import torch; print(torch.__version__)' 2> /dev/null; }
if [[ -z ${MQA:-} ]]; then
  if command -v nvidia-smi > /dev/null 2>&1 && nvidia-smi > /dev/null 2>&1; then
    build_log=${MQA_BUILD_LOG:-/tmp/mqa-build-gpu.log}
    prebuilt=$root/.prebuilt/gpu
    if [[ -x $prebuilt/mqa && $(cat "$prebuilt/SOURCE_HASH" 2> /dev/null) == "$(mqa_source_hash)" \
          && $(cat "$prebuilt/TORCH_VERSION" 2> /dev/null) == "$(mqa_torch_version)" ]]; then
      echo "mqa_build.sh: the prebuilt $prebuilt (sources $(cat "$prebuilt/SOURCE_HASH"), torch $(cat "$prebuilt/TORCH_VERSION")) matches: no build" > "$build_log"
      export LD_LIBRARY_PATH=$prebuilt/lib:${LD_LIBRARY_PATH:-}
      MQA=$prebuilt/mqa
    else
      [[ -d $prebuilt ]] && echo "mqa_build.sh: $prebuilt was built from other sources or another torch: building" >&2
      setup_args=(--libtorch python --build-dir "$root/build-gpu")
      [[ -d $root/.deps/debs ]] && setup_args+=(--debs "$root/.deps/debs")
      bash "$root/scripts/setup.sh" "${setup_args[@]}" > "$build_log" 2>&1 || { tail -60 "$build_log"; exit 1; }
      libs=$root/build-gpu/deps/usr/lib/$(uname -m)-linux-gnu
      export LD_LIBRARY_PATH=$libs:${LD_LIBRARY_PATH:-}
      MQA=$root/build-gpu/mqa
      if [[ -n ${MQA_PACK_BUILD:-} ]]; then
        pack=$(mktemp -d)
        mkdir -p "$pack/gpu/lib"
        cp "$MQA" "$root/build-gpu/libmqa_spm.so" "$pack/gpu/"
        [[ -d $libs ]] && find "$libs" -maxdepth 1 -name '*.so*' -exec cp -P {} "$pack/gpu/lib/" \;
        mqa_source_hash > "$pack/gpu/SOURCE_HASH"
        mqa_torch_version > "$pack/gpu/TORCH_VERSION"
        tar czf "$MQA_PACK_BUILD" -C "$pack" gpu && echo "mqa_build.sh: packed the build into $MQA_PACK_BUILD" \
          "($(du -h "$MQA_PACK_BUILD" | cut -f1); here: mkdir -p .prebuilt && tar xzf FILE -C .prebuilt)" >> "$build_log"
        rm -rf "$pack"
      fi
    fi
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
