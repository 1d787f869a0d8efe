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
  release) dir=$top/build; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  check)   dir=$top/build/check; args=(-DCMAKE_BUILD_TYPE=Debug -DKATA_SANITIZE=ON -DKATA_COVERAGE=ON) ;;
  fuzz)    dir=$top/build/fuzz; args=(-DCMAKE_BUILD_TYPE=Debug -DKATA_FUZZ=ON
                                      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "build.sh: unknown build kind '$kind' (expected release, check or fuzz)" >&2; exit 2 ;;
esac
cmake -S "$top" -B "$dir" -G Ninja "${args[@]}" >/dev/null
ninja -C "$dir" -j "$jobs" "$@"
