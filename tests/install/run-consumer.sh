#!/usr/bin/env bash
# The installed tree, as an embedder sees it: installs BUILD_DIR into a temporary prefix, builds
# tests/install/consumer against it with CMake (find_package(luo-lifecycle CONFIG)) and with
# pkg-config (luo-lifecycle.pc), runs both programs, and runs every subcommand of the installed
# luo-lifecycle.
#
#   tests/install/run-consumer.sh BUILD_DIR C_COMPILER CXX_COMPILER
#
# The compilers are the build's own: an ASan+UBSan build installs instrumented libraries, whose
# package and .pc file carry -fsanitize=address,undefined for the consumer's link.
set -euo pipefail
build=$1 cc=$2 cxx=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quiet() {  # runs a command, showing its output only when it fails
  "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "install test: failed: $*" >&2; exit 1; }
}

quiet cmake --install "$build" --prefix "$work/prefix"

echo "== find_package(luo-lifecycle CONFIG)"
quiet cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release
quiet cmake --build "$work/cmake" -j 2
"$work/cmake/consumer_cpp"
"$work/cmake/consumer_c"

echo "== pkg-config luo-lifecycle"
pc=$(find "$work/prefix" -name luo-lifecycle.pc)
export PKG_CONFIG_PATH=${pc%/*}
read -r -a cflags <<<"$(pkg-config --cflags luo-lifecycle)"
read -r -a libs <<<"$(pkg-config --libs luo-lifecycle)"
# A C program links with cc. With sanitized libraries it links with the C++ driver instead:
# UBSan's C++ runtime (vptr checks) comes only with that.
c_linker=$cc
[[ " ${libs[*]} " == *" -fsanitize="* ]] && c_linker=$cxx
quiet "$cc" -std=c99 -Wall -Wextra -Werror -pedantic "${cflags[@]}" -c "$here/consumer/consumer.c" \
  -o "$work/consumer_c_pc.o"
quiet "$c_linker" "$work/consumer_c_pc.o" -o "$work/consumer_c_pc" "${libs[@]}"
"$work/consumer_c_pc"
quiet "$cxx" -std=c++20 -Wall -Wextra -Werror "${cflags[@]}" "$here/consumer/consumer.cpp" \
  -o "$work/consumer_cpp_pc" "${libs[@]}"
"$work/consumer_cpp_pc"

echo "== the installed luo-lifecycle"
tool=$work/prefix/bin/luo-lifecycle
for command in demo table diagram inspect simulate check replay; do
  quiet "$tool" "$command" --help
done
quiet "$tool" diagram outgoing-session --format dot
quiet "$tool" table kexec-handoff --json
quiet "$tool" inspect "$repo/tests/impl/golden/stage_b_format_c.json"
quiet "$tool" simulate "$repo/examples/scenarios/preserve-kexec-retrieve.json"
quiet "$tool" demo
quiet "$tool" check --quiet --owners 1 --fds 1 --sessions 1 --kexecs 1 --no-hijack
# A broken manager's counterexample, replayed against the installed implementation: it must
# disagree (exit 1), at the step where the mutant deviates.
"$tool" check --quiet --json --mutant restore_lifo --owners 1 --fds 2 --sessions 0 --kexecs 1 \
  --faults 0 --no-hijack >"$work/lifo.json" || [[ $? -eq 1 ]]
status=0
"$tool" replay "$work/lifo.json" >"$work/replay.log" 2>&1 || status=$?
[[ $status -eq 1 ]] || { cat "$work/replay.log" >&2; echo "install test: replay exited $status, not 1" >&2; exit 1; }
echo "install test: ok"
