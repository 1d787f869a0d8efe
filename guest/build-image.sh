#!/usr/bin/env bash
# Builds the guest image from Debian's kernel package and the static kata-agent:
#
#   OUT/vmlinux          uncompressed kernel (ELF with a PVH entry note): QEMU -kernel boots it
#                        directly, skipping the xz decompression that costs seconds under TCG
#   OUT/vmlinuz          the package's bzImage, for VMMs without PVH boot
#   OUT/initramfs.cpio   newc archive: /init (the agent), /lib/modules/kata/*.ko, load-order (loaded
#                        before the agent serves) and load-order.late (loaded in the background)
#   OUT/manifest.json    kernel version, module list, agent build id, file hashes, boot settings
#
# usage: build-image.sh OUT_DIR KATA_AGENT_BINARY
#
# Environment:
#   KATA_GUEST_CACHE       download/extract cache (default ${XDG_CACHE_HOME:-~/.cache}/kata-guest,
#                          OUT_DIR/cache without a home directory)
#   KATA_GUEST_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on). Not the
#                          -cloud-amd64 flavour: it has no 9p.
#   KATA_GUEST_COMPRESS    none (default, measured fastest under TCG) or gzip
#   SOURCE_DATE_EPOCH      mtime of every file in the initramfs (default 0)
#
# Reproducible (same inputs, same bytes) and cached: with unchanged inputs a rerun only hashes them.
set -euo pipefail

die() { echo "build-image.sh: $*" >&2; exit 1; }
log() { echo "build-image.sh: $*" >&2; }

[ $# -eq 2 ] || die "usage: build-image.sh OUT_DIR KATA_AGENT_BINARY"
out=$1
agent=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
modules_list=$here/modules.list
if [ -n "${KATA_GUEST_CACHE:-}" ]; then cache=$KATA_GUEST_CACHE
elif [ -n "${XDG_CACHE_HOME:-}" ]; then cache=$XDG_CACHE_HOME/kata-guest
elif [ -n "${HOME:-}" ]; then cache=$HOME/.cache/kata-guest
else cache=$out/cache
fi
compress=${KATA_GUEST_COMPRESS:-none}
epoch=${SOURCE_DATE_EPOCH:-0}
# Kernel command line the image is tuned for (docs/guest.md has the measurements). The agent reads
# kata.agent_channel= if a VMM names the port differently.
cmdline="console=ttyS0 quiet panic=-1 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd no_timer_check cryptomgr.notests random.trust_cpu=on"

for tool in apt-get apt-cache dpkg-deb depmod cpio xz gzip sha256sum jq readelf strip; do
  command -v "$tool" >/dev/null || die "$tool not found; run scripts/setup.sh"
done
[ -x "$agent" ] || die "agent binary $agent not found; build the kata-agent target first"
case $compress in none|gzip) ;; *) die "KATA_GUEST_COMPRESS must be none or gzip, not $compress";; esac

sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- 1. Which kernel package, and its expected hash -------------------------------------------
# apt-cache takes a second or two to load its cache; remember the answer until the package lists
# change (apt-get update touches /var/lib/apt/lists).
mkdir -p "$cache"
lists_key="$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none) ${KATA_GUEST_KERNEL_PKG:-default}"
resolved=$cache/resolved
if [ -f "$resolved" ] && [ "$(head -1 "$resolved")" = "$lists_key" ]; then
  read -r pkg pkg_version pkg_sha < <(sed -n 2p "$resolved")
else
  pkg=${KATA_GUEST_KERNEL_PKG:-}
  if [ -z "$pkg" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          awk '/Depends: linux-image-[0-9].*-amd64$/ {print $2; exit}') || true
    [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?); or set KATA_GUEST_KERNEL_PKG"
  fi
  case $pkg in
    *-cloud-amd64) die "$pkg is the cloud flavour, which lacks 9p; use the generic -amd64 kernel";;
    linux-image-*-amd64) ;;
    *) die "KATA_GUEST_KERNEL_PKG=$pkg is not a linux-image-*-amd64 package";;
  esac
  pkg_info=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null) || die "apt-cache knows no $pkg; run apt-get update"
  pkg_version=$(awk '/^Version:/ {print $2; exit}' <<<"$pkg_info")
  pkg_sha=$(awk '/^SHA256:/ {print $2; exit}' <<<"$pkg_info")
  [ -n "$pkg_version" ] && [ -n "$pkg_sha" ] || die "apt-cache show $pkg gave no Version/SHA256"
  printf '%s\n%s %s %s\n' "$lists_key" "$pkg" "$pkg_version" "$pkg_sha" > "$resolved.tmp" && mv "$resolved.tmp" "$resolved"
fi

# ---- 2. Download into the cache (verified against the archive's hash) ------------------------
mkdir -p "$cache/debs"
deb=$cache/debs/${pkg}_${pkg_version//:/%3a}_amd64.deb
# Hashing 70 MB on every run would dominate a no-op rebuild: remember the verified size and mtime.
deb_verified() {
  [ -f "$deb" ] && [ -f "$deb.verified" ] &&
    [ "$(cat "$deb.verified")" = "$(stat -c '%s %Y' "$deb") $pkg_sha" ]
}
if ! deb_verified && [ -f "$deb" ] && [ "$(sha "$deb")" = "$pkg_sha" ]; then
  echo "$(stat -c '%s %Y' "$deb") $pkg_sha" > "$deb.verified"
fi
if ! deb_verified; then
  log "downloading $pkg $pkg_version"
  tmpdl=$(mktemp -d "$cache/debs/.dl.XXXXXX")
  if ! dl_log=$(cd "$tmpdl" && apt-get download -q "$pkg=$pkg_version" 2>&1); then
    rm -rf "$tmpdl"
    die "apt-get download $pkg=$pkg_version failed: $dl_log"
  fi
  got=$(ls "$tmpdl"/*.deb)
  [ "$(sha "$got")" = "$pkg_sha" ] || { rm -rf "$tmpdl"; die "$pkg: downloaded file does not match the archive's SHA256"; }
  mv "$got" "$deb"
  rm -rf "$tmpdl"
  echo "$(stat -c '%s %Y' "$deb") $pkg_sha" > "$deb.verified"
fi

# ---- 3. Up to date? ---------------------------------------------------------------------------
agent_sha=$(sha "$agent")
inputs_hash=$( { echo "deb $pkg_sha"; echo "script $(sha "${BASH_SOURCE[0]}")"; echo "modules $(sha "$modules_list")";
                 echo "agent $agent_sha"; echo "compress $compress"; echo "epoch $epoch"; echo "cmdline $cmdline"; } | sha256sum | cut -d' ' -f1)
mkdir -p "$out"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$inputs_hash" ] &&
   [ -f "$out/manifest.json" ] && [ -f "$out/vmlinux" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/$(jq -r .initramfs "$out/manifest.json")" ]; then
  log "guest image in $out is up to date"
  exit 0
fi

# ---- 4. Extract the package once per package hash ---------------------------------------------
tree=$cache/extract/$pkg_sha
if [ ! -f "$tree/.done" ]; then
  log "extracting $(basename "$deb")"
  rm -rf "$tree" "$tree.tmp"
  mkdir -p "$tree.tmp"
  dpkg-deb -x "$deb" "$tree.tmp"
  touch "$tree.tmp/.done"
  mv "$tree.tmp" "$tree"
fi
vmlinuz=$(ls "$tree"/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$vmlinuz" ] || die "$pkg has no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
moddir=$tree/lib/modules/$kver
if [ ! -f "$moddir/modules.dep" ]; then
  depmod -b "$tree" "$kver" || die "depmod -b $tree $kver failed"
fi

# ---- 5. Uncompressed kernel (the approach of the kernel's scripts/extract-vmlinux) -------------
extract_vmlinux() {
  local src=$1 dst=$2 magic tool offsets off
  for pair in 'fd377a585a00:xz -dcq' '28b52ffd:zstd -dcq' '1f8b0800:gzip -dcq' '894c5a:lzop -dcq' '02214c18:lz4 -dc'; do
    magic=${pair%%:*}
    tool=${pair#*:}
    command -v "${tool%% *}" >/dev/null || continue
    # Byte offsets of the magic in the image (hex dump of one byte per line, searched as a string).
    offsets=$(od -An -v -tx1 "$src" | tr -d ' \n' | grep -bo "$magic" | cut -d: -f1) || true
    for off in $offsets; do
      [ $((off % 2)) -eq 0 ] || continue
      tail -c +$((off / 2 + 1)) "$src" | $tool > "$dst.tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$dst.tmp" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]; then
        mv "$dst.tmp" "$dst"
        return 0
      fi
    done
  done
  rm -f "$dst.tmp"
  return 1
}
if [ ! -f "$tree/vmlinux" ]; then
  log "extracting the uncompressed kernel from $(basename "$vmlinuz")"
  extract_vmlinux "$vmlinuz" "$tree/vmlinux" || die "could not extract an ELF vmlinux from $vmlinuz"
fi
# XEN_ELFNOTE_PHYS32_ENTRY (18): the PVH entry point QEMU needs to boot an ELF kernel directly.
pvh=false
if readelf -n "$tree/vmlinux" | grep -q 'Unknown note type: (0x00000012)'; then pvh=true; fi

# ---- 6. Modules in load order ------------------------------------------------------------------
declare -A mod_path mod_deps builtin
norm() { local n=${1##*/}; n=${n%%.ko*}; echo "${n//-/_}"; }
while IFS= read -r line; do
  [ -n "$line" ] || continue
  file=${line%%:*}
  name=$(norm "$file")
  mod_path[$name]=$file
  deps=""
  for d in ${line#*:}; do deps+=" $(norm "$d")"; done
  mod_deps[$name]=$deps
done < "$moddir/modules.dep"
if [ -f "$moddir/modules.builtin" ]; then
  while IFS= read -r b; do builtin[$(norm "$b")]=1; done < "$moddir/modules.builtin"
fi

declare -A placed visiting
order=()
place() {
  local m=$1 d
  [ -z "${placed[$m]:-}" ] || return 0
  [ -z "${visiting[$m]:-}" ] || die "module dependency cycle through $m"
  visiting[$m]=1
  for d in ${mod_deps[$m]}; do place "$d"; done
  placed[$m]=1
  order+=("$m")
}
builtin_requested=()
section=""
early_count=-1
while IFS= read -r want; do
  want=${want%%#*}
  want=$(echo "$want" | tr -d '[:space:]')
  [ -n "$want" ] || continue
  case $want in
    "[early]") [ -z "$section" ] || die "$modules_list: [early] must come first"; section=early; continue ;;
    "[late]") [ "$section" = early ] || die "$modules_list: [late] must follow [early]"; section=late
              early_count=${#order[@]}; continue ;;
    \[*) die "$modules_list: unknown section $want" ;;
  esac
  [ -n "$section" ] || die "$modules_list: module $want outside a section"
  want=${want//-/_}
  if [ -n "${mod_path[$want]:-}" ]; then
    place "$want"
  elif [ -n "${builtin[$want]:-}" ]; then
    builtin_requested+=("$want")
  else
    die "module $want (from $modules_list) is neither in $pkg's modules.dep nor built in"
  fi
done < "$modules_list"
[ "$early_count" -ge 0 ] || early_count=${#order[@]}
early=("${order[@]:0:$early_count}")
late=("${order[@]:$early_count}")

# ---- 7. Initramfs staging ---------------------------------------------------------------------
stage=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{proc,sys,dev,run,tmp,lib/modules/kata}
strip --strip-all -o "$stage/init" "$agent"
chmod 0755 "$stage/init"
agent_build_id=$(readelf -n "$stage/init" | awk '/Build ID:/ {print $3; exit}')
: > "$stage/lib/modules/kata/load-order"
: > "$stage/lib/modules/kata/load-order.late"
i=0
for m in "${order[@]}"; do
  src=$moddir/${mod_path[$m]}
  dst=$stage/lib/modules/kata/$m.ko
  case $src in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" > "$dst" ;;
    *.ko.zst) zstd -dcq "$src" > "$dst" ;;
    *.ko.gz) gzip -dc "$src" > "$dst" ;;
    *) die "unknown module file type: $src" ;;
  esac
  if [ "$i" -lt "$early_count" ]; then
    echo "$m.ko" >> "$stage/lib/modules/kata/load-order"
  else
    echo "$m.ko" >> "$stage/lib/modules/kata/load-order.late"
  fi
  i=$((i + 1))
done
find "$stage" -mindepth 1 -exec chmod go-w {} + -exec touch -h -d "@$epoch" {} +
touch -h -d "@$epoch" "$stage"

case $compress in
  none) initramfs=initramfs.cpio ;;
  gzip) initramfs=initramfs.cpio.gz ;;
esac
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) > "$out/.initramfs.tmp"
if [ "$compress" = gzip ]; then gzip -n -9 < "$out/.initramfs.tmp" > "$out/.initramfs.gz.tmp" && mv "$out/.initramfs.gz.tmp" "$out/.initramfs.tmp"; fi
rm -f "$out"/initramfs.cpio "$out"/initramfs.cpio.gz
mv "$out/.initramfs.tmp" "$out/$initramfs"

# ---- 8. Kernel files (copied only when they changed) ------------------------------------------
install_if_changed() { cmp -s "$1" "$2" 2>/dev/null || { cp "$1" "$2.tmp" && mv "$2.tmp" "$2"; }; }
install_if_changed "$tree/vmlinux" "$out/vmlinux"
install_if_changed "$vmlinuz" "$out/vmlinuz"

# ---- 9. Manifest ------------------------------------------------------------------------------
modules_json=$(printf '%s\n' "${order[@]}" | jq -R . | jq -s .)
early_json=$(printf '%s\n' "${early[@]+"${early[@]}"}" | jq -R . | jq -s 'map(select(. != ""))')
builtin_json=$(printf '%s\n' "${builtin_requested[@]+"${builtin_requested[@]}"}" | jq -R . | jq -s 'map(select(. != ""))')
files_json=$(for f in vmlinux vmlinuz "$initramfs"; do jq -n --arg f "$f" --arg h "$(sha "$out/$f")" --arg s "$(stat -c %s "$out/$f")" '{($f): {sha256: $h, size: ($s|tonumber)}}'; done | jq -s add)
jq -n \
  --arg pkg "$pkg" --arg pkg_version "$pkg_version" --arg pkg_sha "$pkg_sha" --arg kver "$kver" \
  --argjson pvh "$pvh" --arg initramfs "$initramfs" --arg compress "$compress" --arg cmdline "$cmdline" \
  --arg agent_build_id "$agent_build_id" --arg agent_sha "$(sha "$stage/init")" --arg agent_src_sha "$agent_sha" \
  --argjson modules "$modules_json" --argjson early "$early_json" --argjson builtin "$builtin_json" --argjson files "$files_json" \
  '{
     format: 1,
     kernel: {package: $pkg, version: $pkg_version, deb_sha256: $pkg_sha, release: $kver, pvh: $pvh},
     boot: {kernel: (if $pvh then "vmlinux" else "vmlinuz" end), initramfs: $initramfs, cmdline: $cmdline,
            machine: "q35", agent_channel: "agent.channel.0"},
     initramfs: $initramfs, compression: $compress,
     agent: {build_id: $agent_build_id, sha256: $agent_sha, unstripped_sha256: $agent_src_sha},
     modules: $modules, early_modules: $early, builtin_modules: $builtin,
     files: $files
   }' > "$out/.manifest.tmp"
mv "$out/.manifest.tmp" "$out/manifest.json"
echo "$inputs_hash" > "$out/.stamp"
log "guest image ready in $out (kernel $kver, ${#order[@]} modules, $initramfs $(stat -c %s "$out/$initramfs") bytes)"
