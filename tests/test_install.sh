#!/usr/bin/env bash
# Uses the installed package the way a consumer does (ctest: install.ConsumerProject).
#   1. `cmake --install BUILD --prefix STAGING` and check the layout (headers, library, CMake
#      package, gptrec.pc, CLI) and that the export does not name private dependencies;
#   2. examples/consumer configured with CMAKE_PREFIX_PATH=STAGING (find_package(gptrec CONFIG)),
#      built and run on tests/data/models/tiny-items: its suggestions must be the installed CLI's;
#   3. the same main.cpp as a one-file program compiled and linked with
#      `pkg-config --cflags --libs gptrec` (PKG_CONFIG_PATH on STAGING), with the same output.
# Usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR CXX
set -uo pipefail
if [ $# -ne 4 ]; then echo "usage: $0 CMAKE BUILD_DIR SOURCE_DIR CXX" >&2; exit 2; fi
cmake=$1 build=$2 source=$3 cxx=$4
model=$source/tests/data/models/tiny-items
history=$model/history.json
step_timeout=600  # seconds per step; a configure or compile on a loaded 2-core machine fits

work=$(mktemp -d "${TMPDIR:-/tmp}/gptrec-install-test.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
prefix=$work/staging

fail() { echo "FAILED: $*" >&2; exit 1; }
# step NAME COMMAND...: runs COMMAND with a timeout, its output in $work/NAME.log; on failure
# prints the command and the log.
step() {
  local name=$1; shift
  echo "== $name: $*"
  timeout "$step_timeout" "$@" >"$work/$name.log" 2>&1
  local status=$?
  if [ $status -ne 0 ]; then
    [ $status -eq 124 ] && echo "(timed out after ${step_timeout}s)" >&2
    echo "---- output of $name ----" >&2; cat "$work/$name.log" >&2
    fail "$name exited with status $status"
  fi
}

# 1. Install and check the layout.
step install "$cmake" --install "$build" --prefix "$prefix"
# shellcheck disable=SC2016  # ${prefix} is the .pc file's own variable, matched literally
libdir=$(sed -n 's/^libdir=\${prefix}\///p' "$build/gptrec.pc")
[ -n "$libdir" ] || fail "no libdir in $build/gptrec.pc"
for f in include/gptrec/gptrec.hpp include/gptrec/recommender.hpp include/gptrec/version.hpp \
         "$libdir/libgptrec.a" "$libdir/cmake/gptrec/gptrec-config.cmake" \
         "$libdir/cmake/gptrec/gptrec-config-version.cmake" "$libdir/cmake/gptrec/gptrec-targets.cmake" \
         "$libdir/pkgconfig/gptrec.pc" bin/gptrec; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
if grep -n "nlohmann\|CLI11\|ZLIB\|gptrec_warnings\|$source" "$prefix/$libdir"/cmake/gptrec/*.cmake; then
  fail "the installed CMake package names a private dependency or the source tree (above)"
fi

# What the installed CLI suggests: the reference for both consumers.
step cli "$prefix/bin/gptrec" suggest --model "$model" --history "$history" --top 5 --format json
grep -o '"item": "[^"]*"' "$work/cli.log" | sed 's/"item": "\(.*\)"/\1/' >"$work/expected.txt"
[ "$(wc -l <"$work/expected.txt")" -eq 5 ] || fail "the CLI did not give 5 suggestions: $(cat "$work/cli.log")"

# suggestion_items NAME: the item ids of the "rank<TAB>id<TAB>score<TAB>name" lines of NAME.log.
suggestion_items() { awk -F'\t' 'NF >= 4 && $1 ~ /^[0-9]+$/ { print $2 }' "$work/$1.log"; }

# check_suggestions NAME: NAME.log must list the CLI's items, in its order.
check_suggestions() {
  suggestion_items "$1" >"$work/$1.items"
  if ! diff -u "$work/expected.txt" "$work/$1.items" >&2; then
    echo "---- output of $1 ----" >&2; cat "$work/$1.log" >&2
    fail "$1 does not print the CLI's suggestions (diff above: - CLI, + $1)"
  fi
  echo "   $1 suggests: $(tr '\n' ' ' <"$work/$1.items")"
}

# 2. examples/consumer through find_package. Only the staging prefix may provide gptrec.
step consumer-configure "$cmake" -S "$source/examples/consumer" -B "$work/consumer" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
found=$(sed -n 's/^gptrec_DIR:PATH=//p' "$work/consumer/CMakeCache.txt")
[ "$found" = "$prefix/$libdir/cmake/gptrec" ] || fail "find_package found gptrec in '$found', not in $prefix"
step consumer-build "$cmake" --build "$work/consumer"
step consumer-run "$work/consumer/suggest" --model "$model" --top 5 "$history"
check_suggestions consumer-run
# The default model is the installed one (when this tree ships it).
if [ -e "$prefix/share/gptrec/models/online-retail/config.json" ]; then
  step consumer-default-model "$work/consumer/suggest" --top 3 "$history"
  [ "$(suggestion_items consumer-default-model | wc -l)" -eq 3 ] ||
    fail "no suggestions from the installed default model: $(cat "$work/consumer-default-model.log")"
fi

# 3. A one-file program through pkg-config.
command -v pkg-config >/dev/null || fail "pkg-config is not installed (tools/install-deps.sh installs it)"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
step pkg-config pkg-config --cflags --libs gptrec
flags=$(cat "$work/pkg-config.log")
echo "   pkg-config: $flags"
case " $flags " in *" -I$prefix/"*) ;; *) fail "pkg-config --cflags does not point into $prefix: $flags" ;; esac
case " $flags " in *" -DEIGEN_MAX_ALIGN_BYTES="*) ;; *) fail "pkg-config --cflags lacks the library's EIGEN_MAX_ALIGN_BYTES" ;; esac
# shellcheck disable=SC2086  # the flags are meant to be split into words
step pkg-config-build "$cxx" -std=c++20 -O2 "$source/examples/consumer/main.cpp" $flags -o "$work/suggest-pc"
step pkg-config-run "$work/suggest-pc" --model "$model" --top 5 "$history"
check_suggestions pkg-config-run

echo "install test passed"
