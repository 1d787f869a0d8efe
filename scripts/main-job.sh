#!/usr/bin/env bash
# The main job: set up, build (binaries in build/bin, the guest image in build/guest), start a
# private kata-vmmd, and run a container inside a VM with kata-ctl exactly as an engine runs runc,
# printing its output. Everything it starts is stopped and removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" -ne 0 ]; then
  echo "main-job: must run as root (it installs packages and starts kata-vmmd, the root helper)" >&2
  exit 1
fi
scripts/setup.sh
echo "main-job: building (binaries in build/bin, guest image in build/guest)"
mkdir -p build
scripts/build.sh release all > build/main-job-build.log 2>&1 || { tail -n 40 build/main-job-build.log; exit 1; }

work=$(mktemp -d /tmp/kata-main-job-XXXXXX)
chmod 0755 "$work"
cleanup() {
  "$top/scripts/private-vmmd.sh" stop "$work/vmmd" || true
  rm -rf "$work"
}
trap cleanup EXIT
"$top/scripts/private-vmmd.sh" start "$work/vmmd"
ctl=("$top/build/bin/kata-ctl" --config "$work/vmmd/kata-ctl.toml" --root "$work/state")
"${ctl[@]}" --version

# An OCI bundle: a busybox root file system and runc's default spec, running one command.
scripts/busybox-bundle.sh "$work/bundle" sh -c \
  'echo "hello from a container in a VM: $(hostname), guest kernel $(uname -r), $(nproc) vCPU"; id; free -m | head -2' >/dev/null
jq '.hostname = "kata-demo"' "$work/bundle/config.json" > "$work/config.json"
mv "$work/config.json" "$work/bundle/config.json"

echo
echo "### kata-ctl run demo   (a new VM boots under QEMU, runs the container, and goes away)"
start=$(date +%s%N)
status=0
"${ctl[@]}" run --bundle "$work/bundle" demo || status=$?
echo "### exit status $status, $(( ($(date +%s%N) - start) / 1000000 )) ms from kata-ctl run to its exit"
"${ctl[@]}" list
exit "$status"
