#!/usr/bin/env bash
# Configures and builds one tree. Usage: scripts/build.sh <release|check|fuzz> [ninja targets...]
#   release  build/        hardened -O2 binaries in build/bin, the guest image in build/guest
#   check    build/check/  ASan + UBSan + gcov, for the unit, cli and fuzz-replay tiers
#   fuzz     build/fuzz/   clang + libFuzzer targets
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kind=${1:?usage: build.sh <release|check|fuzz> [targets...]}
shift
jobs=${KATA_JOBS:-$(nproc)}
case "$kind" in
  # Full debug info triples the compile time of this code base (CLI11 and nlohmann-json are header
  # only), so the trees carry line tables only (-g1): enough for sanitizer and crash traces.
  # KATA_DEBUG_INFO=-g gives full debug info for a debugging session.
  release) dir=$top/build; args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O2 ${KATA_DEBUG_INFO:--g1}"
                                 "-DCMAKE_C_FLAGS_RELEASE=-O2 ${KATA_DEBUG_INFO:--g1}") ;;
  check)   dir=$top/build/check; args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=${KATA_DEBUG_INFO:--g1}"
                                      -DKATA_SANITIZE=ON -DKATA_COVERAGE=ON) ;;
  fuzz)    dir=$top/build/fuzz; args=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=${KATA_DEBUG_INFO:--g1}" -DKATA_FUZZ=ON
                                      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "build.sh: unknown build kind '$kind' (expected release, check or fuzz)" >&2; exit 2 ;;
esac
cmake -S "$top" -B "$dir" -G Ninja "${args[@]}" >/dev/null
ninja -C "$dir" -j "$jobs" "$@"
