# debian-mirror.sh: sourced by the scripts that fetch Debian packages at test time through an
# isolated apt configuration (tests/vm/kernel.sh, tests/systemd/fetch-systemd.sh). The mirror is
# the one the system's apt already uses, never a host written into this repository.

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
