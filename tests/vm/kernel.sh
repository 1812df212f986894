#!/usr/bin/env bash
# Fetches Debian's linux-source-<series> and builds a small LUO-enabled bzImage, cached per exact
# source version and config fragment (luo.config) so a second run reuses it.
#
#   tests/vm/kernel.sh build 7.2     # prints the path of the cached bzImage on stdout
#   tests/vm/kernel.sh version 7.2   # prints the newest linux-source-7.2 version available
#   tests/vm/kernel.sh source 7.2    # prints the unpacked source tree (kernel selftests: luo-sim)
#
# The source comes through an isolated apt configuration (own sources list, lists and cache
# under the cache dir), using the mirror the system's apt already uses, with the `sid` and
# `trixie-backports` suites that carry linux-source-7.x. The machine's own apt setup is not
# touched. Progress goes to stderr; exit status 3 means "kernel could not be obtained".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${LUO_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/luo-lifecycle/kernels}
mkdir -p "$cache"
log() { echo "kernel.sh: $*" >&2; }

# shellcheck source=../support/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/debian-mirror.sh"

# The isolated apt configuration (apt_isolated): sid and trixie-backports, which carry
# linux-source-7.x.
# shellcheck disable=SC2034  # read by apt_isolated
apt_root=$cache/apt apt_suites="sid trixie-backports" apt_status=/var/lib/dpkg/status
apt_no_mirror() { log "no Debian mirror found in the system's apt sources"; exit 3; }

refresh_lists() {
  # One refresh per day is plenty: sid moves, but not by the hour.
  local stamp="$cache/apt/updated"
  if [[ ! -f $stamp || -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    log "refreshing the isolated package lists"
    apt_isolated update >&2 || { log "apt update failed"; exit 3; }
    touch "$stamp"
  fi
}

newest_version() {
  local series=$1
  refresh_lists
  apt_isolated cache policy "linux-source-$series" 2>/dev/null |
    awk '/Candidate:/ {print $2}' | grep -v '(none)' || true
}

fetch_source() {
  local series=$1 version=$2 dir="$cache/src/$series-$version"
  if [[ -d $dir/linux ]]; then
    echo "$dir/linux"
    return
  fi
  mkdir -p "$dir"
  log "downloading linux-source-$series $version"
  (cd "$dir" && apt_isolated download "linux-source-$series=$version" >&2) ||
    { log "download failed"; exit 3; }
  log "unpacking"
  dpkg-deb -x "$dir"/linux-source-"$series"_*.deb "$dir/deb"
  mkdir -p "$dir/linux"
  tar -xaf "$dir"/deb/usr/src/linux-source-"$series".tar.* -C "$dir/linux" --strip-components=1
  rm -rf "$dir/deb" "$dir"/*.deb
  echo "$dir/linux"
}

build() {
  local series=$1 version
  version=$(newest_version "$series")
  [[ -n $version ]] || { log "no linux-source-$series in sid or trixie-backports"; exit 3; }
  # The config fragment is part of the key: a changed fragment must never reuse an old kernel.
  local config_id; config_id=$(sha256sum "$here/luo.config" | cut -c1-12)
  local out="$cache/bzImage-$series-$version-$config_id"
  if [[ -f $out ]]; then
    log "cached: $out"
    echo "$out"
    return
  fi
  local src; src=$(fetch_source "$series" "$version")
  log "configuring $series ($version): tinyconfig + $here/luo.config"
  make -C "$src" -s tinyconfig >&2
  (cd "$src" && scripts/kconfig/merge_config.sh -m .config "$here/luo.config" >&2)
  make -C "$src" -s olddefconfig >&2
  for opt in CONFIG_LIVEUPDATE CONFIG_KEXEC_HANDOVER CONFIG_KEXEC_FILE CONFIG_LIVEUPDATE_MEMFD; do
    grep -q "^$opt=y" "$src/.config" || { log "$opt did not survive olddefconfig"; exit 3; }
  done
  log "building bzImage with $(nproc) jobs (a few minutes)"
  make -C "$src" -s -j"$(nproc)" bzImage >&2 || { log "kernel build failed"; exit 3; }
  cp "$src/arch/x86/boot/bzImage" "$out.tmp" && mv "$out.tmp" "$out"
  echo "$out"
}

source_tree() {
  local series=$1 version
  version=$(newest_version "$series")
  [[ -n $version ]] || { log "no linux-source-$series in sid or trixie-backports"; exit 3; }
  fetch_source "$series" "$version"
}

case "${1:-}" in
  build) build "${2:?series, e.g. 7.2}" ;;
  source) source_tree "${2:?series, e.g. 7.2}" ;;
  version) newest_version "${2:?series}" ;;
  -h | --help | "")
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *) log "unknown command '$1'"; exit 2 ;;
esac
