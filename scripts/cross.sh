#!/bin/sh
# make cross: the test suite built for another platform and run under an emulator, on this
# x86-64 Linux machine -
#   s390x    big-endian 64-bit Linux (gcc-s390x-linux-gnu, under qemu-s390x)
#   aarch64  64-bit Arm Linux (gcc-aarch64-linux-gnu, under qemu-aarch64)
#   windows  64-bit Windows (gcc-mingw-w64-x86-64, under wine)
# Usage: sh scripts/cross.sh TARGET [TEST FILTER ...]   (filters as for run_tests: "golden."
# runs that suite).  Builds statically into build-TARGET/, installs the missing Debian
# packages when run as root, and ends with the runner's "N passed, N failed" line.  The
# emulators are slow (the full suite under qemu-s390x takes hours; pick suites), and the
# suite runs with CMAD_TEST_QUICK=1.
set -e
cd "$(dirname "$0")/.."
target=$1
[ -n "$target" ] || { echo "cross.sh: name a target: s390x, aarch64 or windows" >&2; exit 2; }
shift
case $target in
s390x | aarch64)
    cc=$target-linux-gnu-gcc exe='' run="qemu-$target"
    pkgs="gcc-$target-linux-gnu qemu-user"
    [ "$target" = aarch64 ] && pkgs="$pkgs libc6-dev-arm64-cross" || pkgs="$pkgs libc6-dev-s390x-cross" ;;
windows)
    cc=x86_64-w64-mingw32-gcc exe=.exe run=wine pkgs="gcc-mingw-w64-x86-64 wine64" ;;
*) echo "cross.sh: unknown target '$target' (s390x, aarch64 or windows)" >&2; exit 2 ;;
esac
if ! command -v "$cc" >/dev/null 2>&1 || ! command -v "$run" >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "cross.sh: installing $pkgs"
        export DEBIAN_FRONTEND=noninteractive
        # shellcheck disable=SC2086 # one word per package
        apt-get install -y -qq $pkgs >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null; }
    else
        echo "cross.sh: needs $cc and $run (Debian packages: $pkgs)" >&2
        exit 1
    fi
fi
build=build-$target
mkdir -p "$build"
# (a static link warns about glibc's dlopen: kept in the log, shown only when the build fails)
make --no-print-directory CC="$cc" LDFLAGS=-static BUILD="$build" "$build/run_tests" "$build/cmad" \
    > "$build/make.log" 2>&1 || { cat "$build/make.log" >&2; echo "cross.sh: the $target build failed" >&2; exit 1; }
export CMAD_TEST_QUICK=1 WINEDEBUG=-all
if [ "$target" = windows ]; then
    unset CMAD_TEST_APP # the runner finds cmad.exe beside itself
    exec wine "$build/run_tests$exe" "$@"
fi
# the test runner starts the cmad program through the shell: through the emulator here
CMAD_TEST_APP="$run $build/cmad"
export CMAD_TEST_APP
exec "$run" "$build/run_tests" "$@"
