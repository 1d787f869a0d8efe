#!/usr/bin/env bash
# Makes an OCI bundle for trying kata-ctl out: a busybox root file system (Debian's busybox-static)
# and runc's default spec (from `kata-ctl spec`), without a terminal, running the given command.
#   usage: scripts/busybox-bundle.sh DIR COMMAND [ARG...]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: busybox-bundle.sh DIR COMMAND [ARG...]}
shift
[ $# -gt 0 ] || { echo "usage: busybox-bundle.sh DIR COMMAND [ARG...]" >&2; exit 2; }
[ -x /bin/busybox ] || { echo "busybox-bundle.sh: /bin/busybox missing: run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc"
for d in proc sys dev tmp root; do mkdir -p "$dir/rootfs/$d"; done
cp /bin/busybox "$dir/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$dir/rootfs/bin/$a" ] || ln -s busybox "$dir/rootfs/bin/$a"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$dir/rootfs/etc/passwd"
echo "root:x:0:" > "$dir/rootfs/etc/group"
rm -f "$dir/config.json"
(cd "$dir" && "$top/build/bin/kata-ctl" spec)
args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
jq --argjson args "$args" '.process.terminal = false | .process.args = $args' "$dir/config.json" > "$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
echo "$dir"
