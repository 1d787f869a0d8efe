#!/usr/bin/env bash
# Installs every Debian package the project builds, tests and runs with. Idempotent: a second run
# installs nothing new. Must run as root (it calls apt-get).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev gcovr
  # libraries the project links
  capnproto libcapnp-dev libseccomp-dev libcap-dev
  libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
  libspdlog-dev libfmt-dev libcli11-dev libtoml11-dev nlohmann-json3-dev libleveldb-dev
  libgtest-dev libgmock-dev googletest linux-libc-dev
  # what the runtime drives and what the tests compare against
  qemu-system-x86 qemu-utils runc cpio kmod jq util-linux iproute2 procps
  # guest image pipeline (guest/build-image.sh): kernel .deb extraction, module and kernel decompression
  xz-utils zstd
  # a static busybox: the rootfs of the agent container tests (unit mount tests, functional containers)
  busybox-static
  # CNI's bridge and host-local plugins: the pod networks of the networking tests (/usr/lib/cni)
  containernetworking-plugins
  # the engines the integration tier drives kata-ctl with (podman with conmon, containerd with ctr
  # and its runc shim, dockerd with --add-runtime); script(1) gives podman -it a terminal
  podman conmon containerd crun uidmap bsdutils docker.io
  # a Prometheus text parser: the functional check of the agent's metrics call
  python3-prometheus-client
  # TCP throughput of the network benchmark (tests/bench/network_bench.sh)
  iperf3
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it installs Debian packages with apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages already installed"
  exit 0
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
