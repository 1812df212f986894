# debian-mirror.sh: sourced by the scripts that fetch Debian packages at test time through an
# isolated apt configuration (tests/vm/kernel.sh, tests/systemd/fetch-systemd.sh): the mirror,
# and apt run against that configuration. The mirror is the one the system's apt already uses,
# never a host written into this repository.

# Prints that mirror's URI without a trailing slash; returns 1 when the apt sources name none.
debian_mirror() {
  local uri=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
  fi
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
      /etc/apt/sources.list)
  fi
  [[ -n $uri ]] || return 1
  echo "${uri%/}"
}

# Runs apt-get (or, with "cache" first, apt-cache) against an isolated configuration under
# $apt_root: its own sources list (the mirror above, with the suites in $apt_suites), lists and
# cache, and $apt_status as dpkg's status file. The sourcing script sets those three and defines
# apt_no_mirror, which is called when the system's apt sources name no mirror and must not return.
# shellcheck disable=SC2154  # apt_root, apt_suites, apt_status: set by the sourcing script
apt_isolated() {
  local tool=apt-get
  if [[ ${1:-} == cache ]]; then
    tool=apt-cache
    shift
  fi
  mkdir -p "$apt_root/lists/partial" "$apt_root/cache/archives/partial"
  if [[ ! -f $apt_root/sources.list ]]; then
    local m s
    m=$(debian_mirror) || apt_no_mirror
    for s in $apt_suites; do
      printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$m" "$s"
    done >"$apt_root/sources.list"
  fi
  "$tool" -q -o Dir::Etc::sourcelist="$apt_root/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$apt_root/lists" -o Dir::Cache="$apt_root/cache" \
    -o Dir::State::status="$apt_status" -o APT::Get::List-Cleanup=0 \
    -o APT::Sandbox::User=root "$@"
}
