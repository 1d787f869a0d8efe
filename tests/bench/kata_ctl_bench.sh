#!/usr/bin/env bash
# Prints, side by side in one run, on this machine:
#   1. `kata-ctl run` of a busybox echo (a new VM boots, runs it, powers off), median of N runs,
#      with the default virtio-9p share and, where kata-vmmd has a virtiofsd, over virtio-fs;
#   2. a bare QEMU boot of the same kernel and initramfs to agent-ready, plus its power-off
#      (build/bin/kata-guest-boot-bench);
#   3. `runc run` of the same bundle;
#   4. the host memory (RSS and PSS, from /proc/<pid>/smaps_rollup) of each host process one running
#      sandbox costs: the container's shim, the sandbox's monitor and QEMU (and kata-vmmd, shared).
# Figures only: nothing here passes or fails. Root (kata-vmmd), after scripts/build.sh release all.
#   usage: tests/bench/kata_ctl_bench.sh [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-5}
[ "$(id -u)" -eq 0 ] || { echo "kata_ctl_bench: run as root" >&2; exit 1; }

work=$(mktemp -d /tmp/kata-bench-XXXXXX)
chmod 0755 "$work"
cleanup() {
  "$top/build/bin/kata-ctl" --config "$work/vmmd/kata-ctl.toml" --root "$work/state" delete -f mem1 >/dev/null 2>&1 || true
  runc --root "$work/runc" delete -f bench-runc >/dev/null 2>&1 || true
  "$top/scripts/private-vmmd.sh" stop "$work/vmmd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$top/scripts/private-vmmd.sh" start "$work/vmmd" >/dev/null
ctl=("$top/build/bin/kata-ctl" --config "$work/vmmd/kata-ctl.toml" --root "$work/state")
"$top/scripts/busybox-bundle.sh" "$work/bundle" echo hello >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

echo "kata-ctl bench: $runs runs each, $(nproc) CPUs, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}')"

# 1. kata-ctl run (the first create of a daemon also probes KVM: warm it up once, unmeasured).
"${ctl[@]}" run -b "$work/bundle" warmup >/dev/null
for i in $(seq 1 "$runs"); do
  t0=$(now_ms); "${ctl[@]}" run -b "$work/bundle" "run$i" >/dev/null; echo $(( $(now_ms) - t0 ))
done > "$work/kata.txt"
# The same over virtio-fs (private-vmmd.sh names Debian's virtiofsd in the policy when it exists).
vfs_ms="n/a (no virtiofsd in kata-vmmd's policy)"
if grep -q '^virtiofsd = ' "$work/vmmd/policy.toml"; then
  sed 's/^\[hypervisor\]$/[hypervisor]\nshared_fs = "virtio-fs"/' "$work/vmmd/kata-ctl.toml" > "$work/virtio-fs.toml"
  vctl=("$top/build/bin/kata-ctl" --config "$work/virtio-fs.toml" --root "$work/state")
  for i in $(seq 1 "$runs"); do
    t0=$(now_ms); "${vctl[@]}" run -b "$work/bundle" "vfs$i" >/dev/null; echo $(( $(now_ms) - t0 ))
  done > "$work/vfs.txt"
  vfs_ms=$(median < "$work/vfs.txt")
fi

# 2. Bare QEMU: the same kernel and initramfs, to the agent's first answer, then power-off.
"$top/build/bin/kata-guest-boot-bench" --runs "$runs" > "$work/boot.txt"
read -r ready off < <(awk '$1 == "med" {print $2, $7}' "$work/boot.txt")

# 3. runc run of the same bundle.
if command -v runc >/dev/null; then
  for i in $(seq 1 "$runs"); do
    t0=$(now_ms); runc --root "$work/runc" run -b "$work/bundle" "bench-runc" >/dev/null; echo $(( $(now_ms) - t0 ))
  done > "$work/runc.txt"
  runc_ms=$(median < "$work/runc.txt")
else
  runc_ms="n/a (runc not installed)"
fi

printf '\n%-58s %10s\n' "start-up (median of $runs)" "ms"
printf '%-58s %10s\n' "kata-ctl run: VM boot + container + exit + VM gone" "$(median < "$work/kata.txt")"
printf '%-58s %10s\n' "kata-ctl run, the same over virtio-fs" "$vfs_ms"
printf '%-58s %10s\n' "bare QEMU, same kernel + initramfs: to agent ready" "$ready"
printf '%-58s %10s\n' "bare QEMU: power-off after ready" "$off"
printf '%-58s %10s\n' "bare QEMU: boot + power-off" "$(awk -v a="$ready" -v b="$off" 'BEGIN {print a + b}')"
printf '%-58s %10s\n' "runc run, same bundle" "$runc_ms"

# 4. Memory of one running sandbox.
"$top/scripts/busybox-bundle.sh" "$work/sleeper" sleep 100000 >/dev/null
"${ctl[@]}" create -b "$work/sleeper" mem1 </dev/null >/dev/null 2>&1
"${ctl[@]}" start mem1
sleep 2
shim=$("${ctl[@]}" state mem1 | jq -r .pid)
monitor=$(jq -r .monitorPid "$work/state/.sandboxes/mem1/sandbox.json")
qemu=$(pgrep -f "qemu-system-x86_64.*mem1" | head -1)
vmmd=$(cat "$work/vmmd/vmmd.pid")
mem() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "%8d %8d", r, p}' "/proc/$1/smaps_rollup"; }
printf '\n%-30s %8s %8s %8s\n' "host memory per sandbox" "pid" "RSS KiB" "PSS KiB"
printf '%-30s %8s %s\n' "shim (per container)" "$shim" "$(mem "$shim")"
printf '%-30s %8s %s\n' "monitor (per sandbox)" "$monitor" "$(mem "$monitor")"
printf '%-30s %8s %s\n' "QEMU (per sandbox, 1 GiB guest)" "$qemu" "$(mem "$qemu")"
printf '%-30s %8s %s\n' "kata-vmmd (shared by all)" "$vmmd" "$(mem "$vmmd")"
