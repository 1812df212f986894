#!/usr/bin/env bash
# Fetches Debian's systemd binary packages at the pinned version and unpacks them into a cache,
# for the Tier-0 differential tests (tests/systemd/), which dlopen the real
# libsystemd-shared-<major>.so. Nothing is installed and nothing is built: the packages are
# downloaded through an isolated apt configuration (own sources list, lists and cache under the
# cache dir) with the mirror the system's apt already uses and the `sid` suite, then unpacked
# with dpkg-deb -x. The machine's own apt setup is not touched.
#
#   tests/systemd/fetch-systemd.sh fetch [PKG...]  # prints the unpacked root (cached per package)
#   tests/systemd/fetch-systemd.sh libdir          # prints the directory of libsystemd-{shared,core}
#   tests/systemd/fetch-systemd.sh version         # prints the systemd version sid serves now
#
# PKG defaults to libsystemd-shared (the luo_* code and sd-json) and systemd (libsystemd-core,
# systemd-shutdown). Debian has no separate libsystemd-core package: it ships in `systemd`.
# systemd-tests (test-luo, test-fdstore) is fetched only on request.
#
# The version is pinned (LUO_SYSTEMD_VERSION, default 262.1-1): the luo_* functions the tests call
# are private to systemd and carry no ABI promise, so a newer upload must be looked at before the
# tests trust it. Progress goes to stderr. Exit status 77 (ctest's SKIP_RETURN_CODE) means
# "systemd could not be obtained": archive unreachable, or the pinned version no longer served.
set -euo pipefail

version=${LUO_SYSTEMD_VERSION:-262.1-1}
default_packages=(libsystemd-shared systemd)
cache=${LUO_SYSTEMD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/luo-lifecycle/systemd}
mkdir -p "$cache"
log() { echo "fetch-systemd.sh: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

# shellcheck source=../support/debian-mirror.sh
source "$(dirname "${BASH_SOURCE[0]}")/../support/debian-mirror.sh"

# The isolated apt configuration (apt_isolated): sid only, and an empty dpkg status, since
# nothing is ever installed from here and the machine's own systemd must not pass for the
# candidate version.
# shellcheck disable=SC2034  # read by apt_isolated
apt_root=$cache/apt apt_suites=sid apt_status=$cache/apt/status
apt_no_mirror() { skip "no Debian mirror found in the system's apt sources"; }
mkdir -p "$apt_root"
[[ -f $apt_status ]] || : >"$apt_status"

refresh_lists() {
  # Once a day at most; a fetch with an unpacked cache never gets here.
  local stamp="$cache/apt/updated"
  if [[ ! -f $stamp || -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    log "refreshing the isolated package lists (sid)"
    apt_isolated update >&2 || skip "apt update failed (archive unreachable?)"
    # apt-get update succeeds with only warnings when the mirror cannot be reached.
    compgen -G "$cache/apt/lists/*_sid_main_binary-*_Packages*" >/dev/null ||
      skip "no sid package list after apt update (archive unreachable?)"
    touch "$stamp"
  fi
}

served_version() {
  refresh_lists
  apt_isolated cache policy libsystemd-shared 2>/dev/null |
    awk '/Candidate:/ {print $2}' | grep -v '(none)' || true
}

# The unpacked root for the pinned version; each package is downloaded and unpacked once.
fetch() {
  local root="$cache/$version/root" dir="$cache/$version/debs" p missing=()
  [[ $# -gt 0 ]] || set -- "${default_packages[@]}"
  for p in "$@"; do
    [[ -f $cache/$version/unpacked-$p ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "$root"
    return
  fi
  refresh_lists
  rm -rf "$dir"
  mkdir -p "$dir" "$root"
  local specs=()
  for p in "${missing[@]}"; do specs+=("$p=$version"); done
  log "downloading ${missing[*]} $version"
  if ! (cd "$dir" && apt_isolated download "${specs[@]}" >&2); then
    skip "systemd $version is not served by sid (now: $(served_version)); update the pin after checking the luo_* signatures"
  fi
  for p in "${missing[@]}"; do
    dpkg-deb -x "$dir/${p}_${version//:/%3a}_"*.deb "$root"
    touch "$cache/$version/unpacked-$p"
  done
  rm -rf "$dir"
  echo "$root"
}

# The directory holding libsystemd-shared-<major>.so and libsystemd-core-<major>.so (the latter
# ships in the `systemd` package).
libdir() {
  local root; root=$(fetch "${default_packages[@]}")
  local lib
  lib=$(find "$root" -name 'libsystemd-shared-*.so' -print -quit)
  [[ -n $lib ]] || skip "no libsystemd-shared-*.so in the unpacked packages"
  local dir=${lib%/*}
  compgen -G "$dir/libsystemd-core-*.so" >/dev/null || skip "no libsystemd-core-*.so beside $lib"
  echo "$dir"
}

case "${1:-}" in
  fetch) shift; fetch "$@" ;;
  libdir) libdir ;;
  version) served_version ;;
  -h | --help | "")
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *) log "unknown command '$1'"; exit 2 ;;
esac
