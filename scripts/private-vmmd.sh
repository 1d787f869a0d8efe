#!/usr/bin/env bash
# A private kata-vmmd for the main job, the engine tests and people trying kata-ctl out, plus the
# kata-ctl configuration that points at it. Nothing is installed system-wide.
#
#   scripts/private-vmmd.sh start DIR [UID...]   start kata-vmmd with its socket, state and policy in
#                                                DIR (root, and the given uids, may use it); writes
#                                                DIR/kata-ctl.toml and DIR/kata-ctl (a wrapper that
#                                                runs build/bin/kata-ctl with that configuration)
#   scripts/private-vmmd.sh stop DIR             stop it (VMs it still runs are destroyed first)
#
# The policy names a virtiofsd when there is one (KATA_VIRTIOFSD, default QEMU's
# /usr/lib/qemu/virtiofsd from qemu-system-common; empty: none), so sandboxes may ask for virtio-fs
# (kata-ctl's [hypervisor] shared_fs = "virtio-fs"); the default share stays virtio-9p.
#
# Must run as root (kata-vmmd is the one root process).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: private-vmmd.sh start|stop DIR [UID...]}
dir=${2:?usage: private-vmmd.sh start|stop DIR [UID...]}
shift 2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# Each private daemon's VMs get a cgroup parent of their own (named after the directory).
cg="kata-vmmd-$(printf '%s' "$dir" | sha256sum | cut -c1-12)"

case "$cmd" in
  start)
    chmod 0711 "$dir"
    uids=$(IFS=,; echo "$*")
    cat > "$dir/policy.toml" <<EOF
[socket]
mode = 0o666
[access]
uids = [${uids}]
[limits]
max_sandboxes = 16
max_memory_mib = 16384
max_vcpus = 32
[devices]
emulated = ["virtio-rng-pci"]
EOF
    virtiofsd=${KATA_VIRTIOFSD-/usr/lib/qemu/virtiofsd}
    if [ -n "$virtiofsd" ] && [ -x "$virtiofsd" ]; then
      printf '[vm]\nvirtiofsd = "%s"\n' "$virtiofsd" >> "$dir/policy.toml"
    fi
    # "others" may not connect by mode alone: the policy's uid list is what admits them. kata-vmmd
    # refuses a world-accessible socket mode, so give the socket to a group only when uids are named.
    if [ $# -gt 0 ]; then
      getent group kata-dev >/dev/null || groupadd --system kata-dev
      for u in "$@"; do
        name=$(getent passwd "$u" | cut -d: -f1)
        [ -n "$name" ] && usermod -aG kata-dev "$name"
      done
      sed -i 's/^mode = 0o666$/mode = 0o660\ngroup = "kata-dev"/' "$dir/policy.toml"
    else
      sed -i 's/^mode = 0o666$/mode = 0o600/' "$dir/policy.toml"
    fi
    chmod 0600 "$dir/policy.toml"
    cat > "$dir/kata-ctl.toml" <<EOF
[hypervisor]
guest_image = "$top/build/guest"
[runtime]
vmmd_socket = "$dir/vmmd.sock"
EOF
    chmod 0644 "$dir/kata-ctl.toml"
    cat > "$dir/kata-ctl" <<EOF
#!/bin/sh
exec "$top/build/bin/kata-ctl" --config "$dir/kata-ctl.toml" "\$@"
EOF
    chmod 0755 "$dir/kata-ctl"
    # A socket left by a daemon that was killed would look like the new one being ready.
    rm -f "$dir/vmmd.sock"
    "$top/build/bin/kata-vmmd" --foreground --socket "$dir/vmmd.sock" --state-dir "$dir/state" \
      --policy "$dir/policy.toml" --log "$dir/vmmd.log" --cgroup-parent "$cg" &
    echo $! > "$dir/vmmd.pid"
    for _ in $(seq 1 200); do
      [ -S "$dir/vmmd.sock" ] && { echo "private-vmmd: kata-vmmd $(cat "$dir/vmmd.pid") serving $dir/vmmd.sock"; exit 0; }
      kill -0 "$(cat "$dir/vmmd.pid")" 2>/dev/null || { cat "$dir/vmmd.log" >&2; echo "private-vmmd: kata-vmmd did not start" >&2; exit 1; }
      sleep 0.05
    done
    echo "private-vmmd: kata-vmmd did not create its socket" >&2
    exit 1
    ;;
  stop)
    [ -f "$dir/vmmd.pid" ] || exit 0
    pid=$(cat "$dir/vmmd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
    # VMs outlive their daemon by design; a private one's VMs go with it.
    for procs in /sys/fs/cgroup/"$cg"/*/cgroup.procs /sys/fs/cgroup/*/"$cg"/*/cgroup.procs; do
      [ -f "$procs" ] && xargs -r kill -9 < "$procs" 2>/dev/null || true
    done
    sleep 0.2
    for d in /sys/fs/cgroup/"$cg"/* /sys/fs/cgroup/*/"$cg"/*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
    for d in /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
    { grep -o " $dir/[^ ]*" /proc/self/mountinfo || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir/state"
    rm -f "$dir/vmmd.pid"
    ;;
  *) echo "usage: private-vmmd.sh start|stop DIR [UID...]" >&2; exit 2 ;;
esac
