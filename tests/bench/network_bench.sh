#!/usr/bin/env bash
# Prints, side by side in one run, the network of a container under kata-ctl (its VM carries the pod
# namespace with the tcfilter model) and under runc, on the same CNI set-up: Debian's bridge and
# host-local plugins give a pod namespace a veth into a bridge in a "host side" namespace this script
# owns (the machine's own network is untouched). From the host side it measures
#   - iperf3 TCP throughput host -> container and container -> host (-R), SECONDS each;
#   - ping round-trip time to the container (COUNT echo requests, 0.2 s apart);
# and the ratio kata/runc of each. Figures only: nothing here passes or fails.
# Root (kata-vmmd, netns), after scripts/build.sh release all and scripts/setup.sh (iperf3).
#   usage: tests/bench/network_bench.sh [SECONDS] [COUNT]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-5}
count=${2:-20}
[ "$(id -u)" -eq 0 ] || { echo "network_bench: run as root" >&2; exit 1; }
for tool in iperf3 /usr/lib/cni/bridge runc jq; do
  command -v "$tool" >/dev/null || { echo "network_bench: $tool missing: run scripts/setup.sh" >&2; exit 1; }
done

tag=$$
host_ns=nbh$tag
work=$(mktemp -d /tmp/kata-netbench-XXXXXX)
chmod 0755 "$work"
ctl=("$top/build/bin/kata-ctl" --config "$work/vmmd/kata-ctl.toml" --root "$work/state")
cleanup() {
  "${ctl[@]}" delete -f nbkata >/dev/null 2>&1 || true
  runc --root "$work/runc" delete -f nbrunc >/dev/null 2>&1 || true
  for pod in kata runc; do
    cni DEL "$pod" >/dev/null 2>&1 || true
    ip netns del "nbp$pod$tag" 2>/dev/null || true
  done
  ip netns del "$host_ns" 2>/dev/null || true
  "$top/scripts/private-vmmd.sh" stop "$work/vmmd" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# One CNI network (bridge nbr<pid>, 10.78.0.0/24 and fd00:78::/64) for both pods.
jq -n --arg br "nbr$tag" --arg data "$work/cni" '{cniVersion: "1.0.0", name: "netbench", type: "bridge",
  bridge: $br, isGateway: true, ipMasq: false,
  ipam: {type: "host-local", ranges: [[{subnet: "10.78.0.0/24"}], [{subnet: "fd00:78::/64"}]],
         routes: [{dst: "0.0.0.0/0"}, {dst: "::/0"}], dataDir: $data}}' > "$work/cni.json"
cni() {  # ADD|DEL pod
  CNI_COMMAND=$1 CNI_CONTAINERID="nb$2$tag" CNI_NETNS="/run/netns/nbp$2$tag" CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni \
    ip netns exec "$host_ns" /usr/lib/cni/bridge < "$work/cni.json"
}
ip netns add "$host_ns"
ip -n "$host_ns" link set lo up

# The bundle: busybox plus iperf3 and the libraries it links, at their host paths.
"$top/scripts/busybox-bundle.sh" "$work/bundle" iperf3 -s >/dev/null
for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -Eo '/[^ ]+'); do
  mkdir -p "$work/bundle/rootfs$(dirname "$f")"
  cp -L "$f" "$work/bundle/rootfs$f"
done
# The pod's namespace, and a tmpfs /tmp (iperf3's stream buffers are files there; the root is read-only).
with_netns() {  # bundle-dir netns-path
  jq --arg p "$2" '(.linux.namespaces[] | select(.type == "network")) .path = $p
    | .mounts += [{destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=64m"]}]' \
    "$1/config.json" > "$1/config.json.tmp"
  mv "$1/config.json.tmp" "$1/config.json"
}

# One iperf3 run's received Mbit/s; the server takes one test at a time and may still be finishing
# the previous one ("the server is busy"), so a run that reports an error is repeated.
iperf_mbit() {  # ip [iperf3 flags]
  local ip=$1 out
  shift
  for _ in $(seq 5); do
    out=$(ip netns exec "$host_ns" iperf3 -c "$ip" -t "$secs" -J "$@" || true)
    if jq -e '.end.sum_received.bits_per_second' <<<"$out" >/dev/null 2>&1; then
      jq '.end.sum_received.bits_per_second / 1e6' <<<"$out"
      return
    fi
    sleep 1
  done
  echo "network_bench: iperf3 to $ip failed: $(jq -r '.error // empty' <<<"$out" 2>/dev/null)" >&2
  echo 0
}

measure() {  # pod: prints "up_mbit down_mbit rtt_avg_ms"
  local ip=$1 up down rtt
  for _ in $(seq 50); do
    ip netns exec "$host_ns" iperf3 -c "$ip" -t 1 >/dev/null 2>&1 && break
    sleep 0.2
  done
  up=$(iperf_mbit "$ip")
  down=$(iperf_mbit "$ip" -R)
  rtt=$(ip netns exec "$host_ns" busybox ping -q -c "$count" -i 0.2 "$ip" | awk -F/ '/^round-trip/ {print $4}')
  echo "$up $down $rtt"
}

pod_ip() {  # CNI result on stdin
  jq -r '.ips[] | select(.address | contains(".")) | .address | split("/")[0]'
}

echo "network bench: $(nproc) CPUs, QEMU $(qemu-system-x86_64 --version | head -1 | awk '{print $4}'), iperf3 ${secs}s per direction, $count pings"

# runc: the container's own network namespace is the pod's.
ip netns add "nbprunc$tag"
runc_ip=$(cni ADD runc | pod_ip)
cp -a "$work/bundle" "$work/runc-bundle"
with_netns "$work/runc-bundle" "/run/netns/nbprunc$tag"
runc --root "$work/runc" create -b "$work/runc-bundle" nbrunc </dev/null >/dev/null 2>&1
runc --root "$work/runc" start nbrunc
read -r runc_up runc_down runc_rtt < <(measure "$runc_ip")
runc --root "$work/runc" delete -f nbrunc

# kata-ctl: the VM carries the pod namespace.
"$top/scripts/private-vmmd.sh" start "$work/vmmd" >/dev/null
ip netns add "nbpkata$tag"
kata_ip=$(cni ADD kata | pod_ip)
with_netns "$work/bundle" "/run/netns/nbpkata$tag"
"${ctl[@]}" create -b "$work/bundle" nbkata </dev/null >/dev/null 2>&1
"${ctl[@]}" start nbkata
read -r kata_up kata_down kata_rtt < <(measure "$kata_ip")
"${ctl[@]}" delete -f nbkata

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
printf '\n%-42s %12s %12s %10s\n' "host side <-> container" "kata-ctl" "runc" "kata/runc"
printf '%-42s %12.1f %12.1f %10s\n' "iperf3 TCP host -> container (Mbit/s)" "$kata_up" "$runc_up" "$(ratio "$kata_up" "$runc_up")"
printf '%-42s %12.1f %12.1f %10s\n' "iperf3 TCP container -> host (Mbit/s)" "$kata_down" "$runc_down" "$(ratio "$kata_down" "$runc_down")"
printf '%-42s %12.3f %12.3f %10s\n' "ping round-trip, average (ms)" "$kata_rtt" "$runc_rtt" "$(ratio "$kata_rtt" "$runc_rtt")"
echo "QEMU: $(grep -ho 'launching QEMU with accel=[a-z]*' "$work/vmmd/vmmd.log" | head -1 | sed 's/.*=/accel=/')"
