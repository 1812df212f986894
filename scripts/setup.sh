#!/usr/bin/env bash
# Installs what the build needs (Debian packages only) and configures + builds one preset.
# Usage: scripts/setup.sh [--vm] [preset...]   (default preset: default)
#   --vm  also what the real-kernel tests need: qemu and the kernel build tools
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake make g++ clang libclang-rt-dev clang-format libgtest-dev libgmock-dev
          libbenchmark-dev nlohmann-json3-dev librapidcheck-dev libssl-dev spin graphviz pkg-config
          debian-archive-keyring)  # the keyring: tests/systemd and tests/vm fetch from the archive
if [[ ${1:-} == --vm ]]; then
  shift
  packages+=(qemu-system-x86 flex bison bc libelf-dev cpio xz-utils dwarves rsync)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing missing packages: ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif command -v sudo >/dev/null; then
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: not root and no sudo; install these first: ${missing[*]}" >&2
    exit 1
  fi
fi

presets=("$@")
((${#presets[@]})) || presets=(default)
jobs=$(nproc 2>/dev/null || echo 2)
for preset in "${presets[@]}"; do
  echo "setup: configuring and building preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
done
