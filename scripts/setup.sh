#!/usr/bin/env bash
# Builds mqa: installs (or unpacks) the packages it needs, then configures and builds. Idempotent: a second run
# only rebuilds what changed. README "GPU build" says which options a GPU machine takes.
usage() {
  cat <<'USAGE'
usage: bash scripts/setup.sh [--libtorch auto|debian|python|DIR] [--debs DIR] [--deps-prefix DIR]
                             [--build-dir DIR] [--print] [-DCMAKE_VAR=value ...] [-- cmake args ...]
  --libtorch debian  Debian's libtorch-dev (LibTorch 1.13, CPU only): what CI builds and tests
  --libtorch python  the LibTorch inside the installed PyTorch (torch.utils.cmake_prefix_path), e.g. 2.x + CUDA
  --libtorch DIR     an unpacked LibTorch download (DIR/share/cmake/Torch/TorchConfig.cmake), or any prefix
                     that holds one (DIR/lib/<arch>/cmake/Torch/...)
  --libtorch auto    (default) python when python3 has a PyTorch built with CUDA, else debian
  --debs DIR         take SentencePiece, yaml-cpp, fmt, CLI11 and GoogleTest from the Debian .deb files in DIR
                     (unpacked into --deps-prefix; nothing is installed) instead of apt: for machines without apt or
                     network. `bash scripts/fetch_debs.sh DIR` downloads them on a Debian 12 machine. Default: apt
                     when there is apt-get, else .deps/debs when it exists
  --deps-prefix DIR  where --debs are unpacked (default BUILD_DIR/deps)
  --build-dir DIR    default: build with --libtorch debian, build-gpu otherwise (one checkout holds both)
  --print            print what would be used and the cmake command; install and build nothing
environment: MQA_BUILD_JOBS (parallel jobs; default nproc), TORCH_CUDA_ARCH_LIST (default: the compute capability
             nvidia-smi reports, e.g. 9.0), CUDACXX (default: nvcc on PATH or /usr/local/cuda/bin/nvcc)
USAGE
}
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "setup: error: $*" >&2; exit 1; }

libtorch=auto debs= deps_prefix= build_dir= print=0 cmake_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --libtorch) [[ $# -ge 2 ]] || die "--libtorch needs a value (auto, debian, python or a directory)"; libtorch=$2; shift 2 ;;
    --debs) [[ $# -ge 2 ]] || die "--debs needs a directory"; debs=$2; shift 2 ;;
    --deps-prefix) [[ $# -ge 2 ]] || die "--deps-prefix needs a directory"; deps_prefix=$2; shift 2 ;;
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a directory"; build_dir=$2; shift 2 ;;
    --print) print=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; cmake_args+=("$@"); break ;;
    -D*) cmake_args+=("$1"); shift ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

# ---- which LibTorch ---------------------------------------------------------------------------------------------
# "prefix<TAB>cuda version" of python3's PyTorch, or nothing when there is none.
python_torch() { python3 -c 'import torch; print(torch.utils.cmake_prefix_path + "\t" + (torch.version.cuda or ""))' 2>/dev/null || true; }
torch_prefix=
case $libtorch in
  auto)
    info=$(python_torch)
    if [[ -n $info && -n ${info#*$'\t'} ]]; then libtorch=python; torch_prefix=${info%%$'\t'*}; else libtorch=debian; fi ;;
  debian) ;;
  python)
    info=$(python_torch)
    [[ -n $info ]] || die "--libtorch python: python3 cannot import torch (install PyTorch, or pass --libtorch DIR for a LibTorch download)"
    torch_prefix=${info%%$'\t'*} ;;
  *)
    compgen -G "$libtorch/share/cmake/Torch/TorchConfig.cmake" > /dev/null \
      || compgen -G "$libtorch/lib/*/cmake/Torch/TorchConfig.cmake" > /dev/null \
      || die "--libtorch $libtorch: no share/cmake/Torch/TorchConfig.cmake there (expected an unpacked LibTorch, or auto, debian, python)"
    torch_prefix=$(cd "$libtorch" && pwd); libtorch=directory ;;
esac
[[ -n $build_dir ]] || { [[ $libtorch == debian ]] && build_dir=build || build_dir=build-gpu; }

# ---- the other packages: apt, or unpacked .debs -------------------------------------------------------------------
common_pkgs="libsentencepiece-dev libfmt-dev libcli11-dev libyaml-cpp-dev libgtest-dev libgmock-dev"
tools_pkgs="cmake ninja-build ccache g++"
# libopenblas0-openmp: Debian's LibTorch calls the system's libblas.so.3 for its matrix products, which is the
# reference BLAS unless an optimised one provides it (measured: a small model trained 2.7x faster on 2 cores).
if [[ $libtorch == debian ]]; then pkgs="libtorch-dev libgloo-dev libopenblas0-openmp $common_pkgs $tools_pkgs"
else pkgs="$common_pkgs $tools_pkgs"; fi
if [[ -z $debs ]] && ! command -v apt-get > /dev/null 2>&1; then
  [[ -d .deps/debs ]] || die "this machine has no apt-get: give the packages as .debs with --debs DIR (bash scripts/fetch_debs.sh DIR downloads them on a Debian 12 machine)"
  debs=.deps/debs
fi
if [[ -n $debs ]]; then
  [[ $libtorch != debian ]] || die "--debs carries no LibTorch: use it with --libtorch python or --libtorch DIR"
  [[ -d $debs ]] && compgen -G "$debs/*.deb" > /dev/null || die "--debs $debs: no .deb files there (bash scripts/fetch_debs.sh $debs)"
  debs=$(cd "$debs" && pwd)
  [[ -n $deps_prefix ]] || deps_prefix=$build_dir/deps
  mkdir -p "$deps_prefix"; deps_prefix=$(cd "$deps_prefix" && pwd)
fi

cuda_env=()
if [[ $libtorch != debian ]]; then
  arch=${TORCH_CUDA_ARCH_LIST:-}
  if [[ -z $arch ]] && command -v nvidia-smi > /dev/null 2>&1; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' ' || true)
  fi
  [[ -n $arch ]] && cuda_env+=("TORCH_CUDA_ARCH_LIST=$arch")
  nvcc=${CUDACXX:-$(command -v nvcc || true)}
  [[ -z $nvcc && -x /usr/local/cuda/bin/nvcc ]] && nvcc=/usr/local/cuda/bin/nvcc
  [[ -n $nvcc ]] && cuda_env+=("CUDACXX=$nvcc")
fi
# The unpacked packages first: they are what --debs asks for, also where the LibTorch prefix holds others.
prefix_path=$torch_prefix
[[ -n $deps_prefix ]] && prefix_path="$deps_prefix/usr${prefix_path:+;$prefix_path}"
configure=(cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release)
[[ -n $prefix_path ]] && configure+=("-DCMAKE_PREFIX_PATH=$prefix_path")
[[ -n $deps_prefix ]] && configure+=("-DCMAKE_LIBRARY_ARCHITECTURE=$(uname -m)-linux-gnu")
configure+=("${cmake_args[@]}")

if [[ $print == 1 ]]; then
  echo "libtorch:    $libtorch${torch_prefix:+ ($torch_prefix)}"
  if [[ -n $debs ]]; then echo "packages:    .debs from $debs, unpacked into $deps_prefix"; else echo "packages:    apt: $pkgs"; fi
  echo "build dir:   $build_dir"
  echo "environment: ${cuda_env[*]:-(none)}"
  echo "configure:   ${configure[*]}"
  exit 0
fi

if [[ -n $debs ]]; then
  # Unpacked again only when the set of .debs changed (the list is kept beside them).
  want=$(cd "$debs" && ls -1 ./*.deb | sort)
  if [[ ! -f $deps_prefix/.debs || $(cat "$deps_prefix/.debs") != "$want" ]]; then
    command -v dpkg-deb > /dev/null 2>&1 || die "dpkg-deb is needed to unpack --debs"
    echo "setup: unpacking $(wc -l <<< "$want") .debs from $debs into $deps_prefix"
    for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$deps_prefix"; done
    echo "$want" > "$deps_prefix/.debs"
  fi
  for tool in cmake ninja; do command -v $tool > /dev/null 2>&1 || die "$tool is not installed (with --debs, cmake, ninja and a C++17 compiler must already be there)"; done
  # The compiler CMake will take: $CXX, else c++ or g++ on PATH (some machines keep a newer g++ under /opt: set CXX).
  [[ -n ${CXX:-} ]] || command -v c++ > /dev/null 2>&1 || command -v g++ > /dev/null 2>&1 \
    || die "no C++ compiler: neither \$CXX nor c++ / g++ on PATH (with --debs, the compiler must already be there)"
else
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [[ -n $missing ]]; then
    echo "setup: installing$missing"
    sudo_cmd=""; [[ $(id -u) == 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends $missing
  fi
fi

start=$(date +%s)
env "${cuda_env[@]}" "${configure[@]}"
# A LibTorch translation unit takes about 1.5 GB of memory and 10-15 s of one core.
cmake --build "$build_dir" -j "${MQA_BUILD_JOBS:-$(nproc)}"
echo "setup: built $build_dir/mqa, $build_dir/mqa_tests and $build_dir/libmqa_spm.so in $(( $(date +%s) - start )) s" \
     "(LibTorch: $libtorch${torch_prefix:+, $torch_prefix})"
if [[ -n $deps_prefix ]]; then
  echo "setup: the unpacked libraries are in $deps_prefix/usr/lib/$(uname -m)-linux-gnu; if a program does not find them:" \
       "export LD_LIBRARY_PATH=$deps_prefix/usr/lib/$(uname -m)-linux-gnu:\$LD_LIBRARY_PATH"
fi
