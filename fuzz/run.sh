#!/bin/sh
# fuzz/run.sh - coverage-guided fuzzing (clang's libFuzzer) of every reader of untrusted bytes.
#
#   sh fuzz/run.sh                 builds, seeds and runs every harness for FUZZ_SECONDS each
#   sh fuzz/run.sh fuzz_idx ...    only the harnesses named
#   FUZZ_SECONDS=600 sh fuzz/run.sh
#
# Harnesses (fuzz/*.c, one LLVMFuzzerTestOneInput each):
#   fuzz_safetensors  st_open and every reader on each entry (tensor/safetensors.c)
#   fuzz_idx          idx_read_u8 with ndim 1..4 and mnist_load_files (data/idx.c)
#   fuzz_ckpt         ckpt_peek, ckpt_load into a tiny UNet and the MLP, ckpt_recipe_diff
#                     of the recorded training options (nn/checkpoint.c)
#   fuzz_config       unet_config_parse (nn/unet.c)
#   fuzz_args         args_parse, method_parse, phi_mode_parse (apps/args.c, control/)
#   fuzz_sha256       sha256_file_hex against the in-memory hash (data/sha256.c)
#   fuzz_npy          npy_read, and its result back through npy_write_f32 (data/npy.c)
# The library is compiled once into build-fuzz/libcmad-fuzz.a with the harness flags (no
# OpenMP); each harness links what it needs from it.  fuzz/seeds.c writes small valid inputs
# to build-fuzz/seed/<name>/ (remade each run); the corpus grows in build-fuzz/corpus/<harness>/
# from run to run; crash inputs land in build-fuzz/crash/, logs in build-fuzz/log/.  Harnesses
# run one after the other, one process each (no -jobs, no -workers).
# Prints one line per harness and exits 1 if any harness found a crash, leak, timeout or OOM.
#
# Environment: CC (clang), FUZZ_SECONDS (60), FUZZ_TIMEOUT (seconds per input that counts
# as a hang, 2), FUZZ_RSS_MB (2048), FUZZ_COVERAGE=1 (then replay each corpus through a
# source-coverage build and print the share of each reader's lines reached; needs llvm-cov
# and llvm-profdata; build-fuzz/cov/<harness>.txt has the per-function table).

set -u
cd "$(dirname "$0")/.." || exit 2

CC=${CC:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-2}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
OUT=build-fuzz
CFLAGS="-std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
WARN="-pedantic -Wall -Wextra"
ALL="fuzz_safetensors fuzz_idx fuzz_ckpt fuzz_config fuzz_args fuzz_sha256 fuzz_npy"
HARNESSES=${*:-$ALL}

# max_len per harness: headers and strings are small; a tiny-UNet training checkpoint is ~30 KB
max_len()
{
    case $1 in
    fuzz_ckpt) echo 65536 ;;
    fuzz_safetensors) echo 16384 ;;
    fuzz_idx) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# the libFuzzer dictionary option of a harness, if it has one (fuzz/*.dict)
dict_of()
{
    case $1 in
    fuzz_safetensors | fuzz_ckpt) echo "-dict=fuzz/safetensors.dict" ;;
    fuzz_config) echo "-dict=fuzz/config.dict" ;;
    fuzz_npy) echo "-dict=fuzz/npy.dict" ;;
    esac
}

mkdir -p "$OUT/obj" "$OUT/crash" "$OUT/log" || exit 2

# ---------------------------------------------------------------- library
# An object is rebuilt when its source, or any library header, is newer than it.
newer() { find "$1" tensor autograd nn sde control data apps -newer "$2" \
    \( -name '*.h' -o -path "$1" \) 2>/dev/null | head -n 1; }
objs=""
for src in tensor/*.c autograd/*.c nn/*.c sde/*.c control/*.c data/*.c apps/args.c; do
    obj="$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
    objs="$objs $obj"
    if [ ! -f "$obj" ] || [ -n "$(newer "$src" "$obj")" ]; then
        echo "cc $src"
        # shellcheck disable=SC2086
        $CC $CFLAGS -c "$src" -o "$obj" || exit 2
        stale=1
    fi
done
LIB="$OUT/libcmad-fuzz.a"
if [ ! -f "$LIB" ] || [ "${stale:-0}" = 1 ]; then
    rm -f "$LIB"
    # shellcheck disable=SC2086
    ar rcs "$LIB" $objs || exit 2
fi

# ---------------------------------------------------------------- harnesses and seeds
for h in $HARNESSES; do
    [ -f "fuzz/$h.c" ] || { echo "run.sh: no harness fuzz/$h.c" >&2; exit 2; }
    # shellcheck disable=SC2086
    $CC $CFLAGS $WARN "fuzz/$h.c" fuzz/fuzz_util.c "$LIB" -lm -o "$OUT/$h" || exit 2
done
# the seed generator: same objects, linked without libFuzzer's main
# shellcheck disable=SC2086
$CC -std=c99 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $WARN \
    fuzz/seeds.c fuzz/fuzz_util.c "$LIB" -lm -o "$OUT/seeds" || exit 2
rm -rf "$OUT/seed"
for d in safetensors ckpt idx config args sha256 npy; do mkdir -p "$OUT/seed/$d"; done
"$OUT/seeds" "$OUT/seed" || { echo "run.sh: the seed generator failed" >&2; exit 2; }

# ---------------------------------------------------------------- runs
status=0
for h in $HARNESSES; do
    corpus="$OUT/corpus/$h"
    seeds="$OUT/seed/${h#fuzz_}"
    log="$OUT/log/$h.log"
    mkdir -p "$corpus" "$seeds"
    # args_parse prints help and errors: close the harness's stdout and stderr
    mask=0
    [ "$h" = fuzz_args ] && mask=3
    rm -f "$OUT/crash/$h-"*
    dict=$(dict_of "$h")
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$OUT/$h" -max_total_time="$FUZZ_SECONDS" -max_len="$(max_len "$h")" \
        -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" -close_fd_mask=$mask \
        -print_final_stats=1 -artifact_prefix="$OUT/crash/$h-" ${dict:+"$dict"} \
        "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -n 1 |
        sed 's/cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\)/cov \1, ft \2, corpus \3/')
    crash=$(find "$OUT/crash" -name "$h-*" | head -n 1)
    if [ $rc -ne 0 ] || [ -n "$crash" ]; then
        status=1
        echo "$h: ${secs:-?} s, ${runs:-?} runs, CRASH ${crash:-(exit $rc)}; log $log"
    else
        echo "$h: ${secs:-?} s, ${runs:-?} runs, ${cov:-no coverage line}, no crash"
    fi
done

# ---------------------------------------------------------------- coverage (FUZZ_COVERAGE=1)
# Replays each corpus through a source-coverage build (no sanitizers) and prints the share of
# the reader's lines that some input reached: the functions of the file that read untrusted
# bytes (matching the first pattern, not the second; the writers are left out).
ST_WRITER="st_writer|st_add|st_write|w_new_entry|werr|buf_|put_le|put_f"
cov_spec() # prints: file include-regex exclude-regex (function names)
{
    case $1 in
    fuzz_safetensors) echo "tensor/safetensors.c . $ST_WRITER" ;;
    fuzz_idx) echo "data/idx.c idx_|be32|mnist_load_files|mnist_free ^$" ;;
    fuzz_ckpt) echo "nn/checkpoint.c . ckpt_save" ;;
    fuzz_config) echo "nn/unet.c unet_config|has_long_number|unet_name ^$" ;;
    fuzz_args) echo "apps/args.c . ^$" ;;
    fuzz_sha256) echo "data/sha256.c . ^$" ;;
    fuzz_npy) echo "data/npy.c npy_read|npy_fail|npy_skip|npy_eat|npy_string|npy_shape|npy_parse|npy_elem|npy_free ^$" ;;
    esac
}
if [ "${FUZZ_COVERAGE:-0}" = 1 ]; then
    COVFLAGS="-std=c99 -g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping"
    mkdir -p "$OUT/cov/obj" || exit 2
    cobjs=""
    for src in tensor/*.c autograd/*.c nn/*.c sde/*.c control/*.c data/*.c apps/args.c; do
        obj="$OUT/cov/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
        cobjs="$cobjs $obj"
        # shellcheck disable=SC2086
        $CC $COVFLAGS -c "$src" -o "$obj" || exit 2
    done
    rm -f "$OUT/cov/libcmad-cov.a"
    # shellcheck disable=SC2086
    ar rcs "$OUT/cov/libcmad-cov.a" $cobjs || exit 2
    for h in $HARNESSES; do
        # shellcheck disable=SC2046
        set -- $(cov_spec "$h")
        file=$1 inc=$2 exc=$3
        # shellcheck disable=SC2086
        $CC $COVFLAGS "fuzz/$h.c" fuzz/fuzz_util.c "$OUT/cov/libcmad-cov.a" -lm -o "$OUT/cov/$h" ||
            exit 2
        rm -f "$OUT/cov/$h.profraw"
        LLVM_PROFILE_FILE="$OUT/cov/$h.profraw" "$OUT/cov/$h" -runs=0 -max_len="$(max_len "$h")" \
            -close_fd_mask=3 "$OUT/corpus/$h" "$OUT/seed/${h#fuzz_}" >/dev/null 2>&1
        llvm-profdata merge -sparse -o "$OUT/cov/$h.profdata" "$OUT/cov/$h.profraw" || exit 2
        llvm-cov report -show-functions -instr-profile="$OUT/cov/$h.profdata" "$OUT/cov/$h" \
            "$file" >"$OUT/cov/$h.txt" 2>/dev/null
        # columns: Name Regions Miss Cover Lines Miss Cover Branches Miss Cover
        awk -v inc="$inc" -v exc="$exc" -v h="$h" -v f="$file" '
            NF >= 7 && $5 ~ /^[0-9]+$/ && $1 != "TOTAL" {
                name = $1; sub(/^.*:/, "", name)
                if (name ~ inc && name !~ exc) { lines += $5; miss += $6 }
            }
            END { printf "%s: %d of %d reader lines of %s reached (%.1f%%)\n", h, lines - miss,
                  lines, f, lines ? 100 * (lines - miss) / lines : 0 }' "$OUT/cov/$h.txt"
    done
fi
exit $status
