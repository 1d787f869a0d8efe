#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: unit + cli + fuzz-corpus replay under ASan/UBSan
# with line coverage, then the functional tier (real VMs under QEMU) and the integration tier on the
# release build, then a short libFuzzer run of every fuzzer. Exits non-zero when any test fails.
# Ends with one line "tests: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" -eq 0 ]; then
  "$top/scripts/setup.sh" || { echo "test-all: set-up failed"; exit 1; }
else
  echo "test-all: not root, assuming scripts/setup.sh has been run"
fi

passed=0
failed=0
status=0
logdir=$top/build/test-logs
mkdir -p "$logdir"

# Runs ctest on a tree for a label regex and adds its counts to the totals.
run_ctest() {  # dir label timeout-seconds
  local dir=$1 label=$2 timeout=$3 log="$logdir/ctest-$2.log"
  echo "=== ctest -L '$label' in ${dir#$top/}"
  ctest --test-dir "$dir" -L "$label" --output-on-failure --timeout "$timeout" -j "$(nproc)" \
    2>&1 | tee "$log" | grep -E '^(.*Test +#|[0-9]+% tests passed|The following tests FAILED|\s+[0-9]+ - )' || true
  local line total nfail
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    if grep -q 'No tests were found' "$log"; then
      echo "=== no '$label' tests yet"
      return
    fi
    echo "=== ctest -L '$label' did not finish"; failed=$((failed + 1)); status=1; return
  fi
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  nfail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
  [ "$nfail" -eq 0 ] || status=1
}

# Runs a gtest binary as one process (the VM tiers share booted VMs across the cases of a suite)
# and adds gtest's own counts to the totals.
run_gtest() {  # binary timeout-seconds
  local bin=$1 timeout=$2 log="$logdir/$(basename "$1").log" npass nfail
  if [ ! -x "$bin" ]; then
    echo "=== no $(basename "$bin") yet"
    return
  fi
  echo "=== $bin"
  timeout --kill-after=30 "$timeout" "$bin" --gtest_color=no > "$log" 2>&1
  local rc=$?
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\] [A-Za-z]' "$log" | sed -E 's/ \(.*//'
  npass=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | grep -Eo '[0-9]+' | head -n 1)
  nfail=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | grep -Eo '[0-9]+' | head -n 1)
  npass=${npass:-0}; nfail=${nfail:-0}
  if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
    tail -n 40 "$log"; echo "=== $(basename "$bin") exited $rc"; nfail=1
  fi
  [ "$nfail" -eq 0 ] || { grep -B 5 -A 20 -E '^\[  FAILED  \]' "$log" | head -n 80; status=1; }
  passed=$((passed + npass))
  failed=$((failed + nfail))
}

step() { echo; echo "##### $*"; }

step "release build (build/bin, build/guest)"
if ! scripts/build.sh release all > "$logdir/build-release.log" 2>&1; then
  tail -n 60 "$logdir/build-release.log"; echo "test-all: release build failed"; echo "tests: 0 passed, 1 failed"; exit 1
fi

step "check build (ASan + UBSan + coverage)"
if ! scripts/build.sh check kata-unit-tests kata-cli-tests kata-ctl fuzzers > "$logdir/build-check.log" 2>&1; then
  tail -n 60 "$logdir/build-check.log"; echo "test-all: check build failed"; echo "tests: 0 passed, 1 failed"; exit 1
fi
find build/check -name '*.gcda' -delete
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest build/check 'unit|cli|fuzz' 300
unset ASAN_OPTIONS UBSAN_OPTIONS

step "unit-test line coverage (gcovr)"
cov=$(gcovr --root "$top" --object-directory build/check --filter 'common/' --filter 'runtime/' \
      --filter 'kata-ctl/' --exclude-unreachable-branches --print-summary -o "$logdir/coverage.txt" 2>/dev/null \
      | grep -E '^lines:' | sed -E 's/lines: ([0-9.]+)%.*/\1/')
sed -n '1,200p' "$logdir/coverage.txt" | grep -vE '^-+$' | tail -n 40
echo "line coverage of common/ runtime/ kata-ctl/: ${cov:-unknown}% (floor 75%)"
if [ -z "$cov" ] || ! awk -v c="$cov" 'BEGIN { exit !(c >= 75) }'; then
  echo "test-all: coverage below the 75% floor"; failed=$((failed + 1)); status=1
else
  passed=$((passed + 1))
fi

step "functional tier (real VMs, release build)"
run_gtest build/bin/kata-functional-tests 1200

step "integration tier (engines driving kata-ctl)"
run_gtest build/bin/kata-integration-tests 1200

step "fuzzers (short libFuzzer runs)"
if scripts/build.sh fuzz fuzzers > "$logdir/build-fuzz.log" 2>&1; then
  for f in build/fuzz/bin/fuzz-*; do
    [ -x "$f" ] || continue
    name=$(basename "$f"); corpus=tests/fuzz/corpus/${name#fuzz-}
    work=$(mktemp -d)
    if "$f" -max_total_time="${KATA_FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$logdir/$name-" "$work" "$corpus" > "$logdir/$name.log" 2>&1; then
      echo "$name: ok ($(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$logdir/$name.log" | grep -Eo '[0-9]+$' || echo '?') runs)"
      passed=$((passed + 1))
    else
      tail -n 30 "$logdir/$name.log"; echo "$name: FAILED (artifacts in $logdir)"; failed=$((failed + 1)); status=1
    fi
    rm -rf "$work"
  done
else
  tail -n 40 "$logdir/build-fuzz.log"; echo "fuzz build failed"; failed=$((failed + 1)); status=1
fi

echo
echo "tests: $passed passed, $failed failed"
exit $status
