#!/bin/sh
# make compare: the comparison table of EVAL.md (issue 5) - every method on the same noise,
# N = 2 and 3 agents, digits 0, 3 and 9, 256 samples each on the 500-step grid, seed 0.
#
# The work is cut into jobs (one control training per (N, c, optimiser), one `cmad eval` per
# (N, c, method)), run LANES at a time with one thread each, and a job whose output is
# already there is skipped, and an eval job stopped midway goes on from its last finished
# batch of 64 (`cmad eval --resume`): the run can be stopped and started again, over several
# days if need be.  A full run is long (on the development machine, one thread per job, shared:
# 33-57 minutes per N=2 cell for CDPS, 14-23 for the others, about 50 % more for N=3), so the
# variables below pick a part of it:
#   AGENTS="2 3"  DIGITS="0 3 9"
#   METHODS="cmad cmad-ido cdps cdps-per-sample amdm independent prior"
#     (cmad is CMAD with joint controls, cmad-ido with IDO controls, both the fast preset)
#   N=256  OVERLAP=0 (rows of band overlap of phi, for every method alike)  LANES=2
#   OUT=results/compare  CMAD=build-native/cmad
#   CLASSIFIER=models/mlp-robust.safetensors (the objective classifier of every method, the
#   adversarially trained MLP; models/mlp.safetensors is the plain one)
#   SCORE=models/unet-s.safetensors (the unconditional prior every method shares)
# At the end the rows found under OUT are gathered into OUT/table.md, CMAD's rows named
# cmad-joint and cmad-ido.
set -e
cd "$(dirname "$0")/.."
CMAD=${CMAD:-build-native/cmad}
OUT=${OUT:-results/compare}
AGENTS=${AGENTS:-"2 3"}
DIGITS=${DIGITS:-"0 3 9"}
METHODS=${METHODS:-"cmad cmad-ido cdps cdps-per-sample amdm independent prior"}
N=${N:-256}
OVERLAP=${OVERLAP:-0}
LANES=${LANES:-2}
CLASSIFIER=${CLASSIFIER:-models/mlp-robust.safetensors}
SCORE=${SCORE:-models/unet-s.safetensors}
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"

# one job: "train N c joint|ido" or "eval N c method"; its log beside its output
if [ "$1" = --job ]; then
    kind=$2 a=$3 c=$4 m=$5
    # the controls of (N, c, optimiser): joint in ctrl-nN-cC, IDO in ctrl-nN-cC-ido
    base=$OUT/ctrl-n$a-c$c
    case $m in ido | cmad-ido) base=$base-ido ;; esac
    ctrl=$base.safetensors
    if [ "$kind" = train ]; then
        [ -f "$ctrl" ] && exit 0
        echo "compare: training $m controls N=$a c=$c"
        $CMAD control train --preset fast --opt "$m" --agents "$a" --target "$c" --overlap "$OVERLAP" \
            --classifier "$CLASSIFIER" --score "$SCORE" --seed 3 --threads 1 --out "$ctrl" --curve "$base.csv" \
            > "$base.log" 2>&1 || { echo "compare: training N=$a c=$c $m failed, see $base.log" >&2; exit 1; }
        exit 0
    fi
    dir=$OUT/n$a-c$c/$m
    [ -f "$dir/metrics.json" ] && exit 0
    method=$m extra=
    case $m in cmad | cmad-ido) method=cmad extra="--controls $ctrl" ;; esac
    echo "compare: $m N=$a c=$c"
    mkdir -p "$dir"
    # shellcheck disable=SC2086
    $CMAD eval --agents "$a" --target "$c" --methods "$method" --overlap "$OVERLAP" $extra \
        --classifier "$CLASSIFIER" --score "$SCORE" \
        --n "$N" --seed 0 --threads 1 --out "$dir" --resume >> "$dir.log" 2>&1 || { echo "compare: $m N=$a c=$c failed, see $dir.log" >&2; exit 1; }
    exit 0
fi

[ -f data/mnist/t10k-labels-idx1-ubyte ] || sh data/fetch_mnist.sh data/mnist
for f in unet-s-cond cnn-eval; do
    [ -f models/$f.safetensors ] || { echo "compare: models/$f.safetensors is missing (make models trains it)" >&2; exit 1; }
done
[ -f "$SCORE" ] || { echo "compare: the score net $SCORE is missing (make models trains models/unet-s.safetensors)" >&2; exit 1; }
[ -f "$CLASSIFIER" ] || { echo "compare: the objective classifier $CLASSIFIER is missing" >&2; exit 1; }
mkdir -p "$OUT"
rc=0
# run_jobs "kind:N:c:method ...": LANES at a time; rc=1 when any of them failed
run_jobs() {
    [ -n "$1" ] || return 0
    # shellcheck disable=SC2086 # one word per job
    printf '%s\n' $1 | tr ':' ' ' | xargs -P "$LANES" -n 4 sh "$0" --job || rc=1
}
jobs=
for opt in joint ido; do
    m=cmad
    [ $opt = ido ] && m=cmad-ido
    case " $METHODS " in
    *" $m "*)
        for a in $AGENTS; do for c in $DIGITS; do jobs="$jobs train:$a:$c:$opt"; done; done ;;
    esac
done
run_jobs "$jobs"
jobs=
for a in $AGENTS; do for c in $DIGITS; do for m in $METHODS; do
    jobs="$jobs eval:$a:$c:$m"
done; done; done
run_jobs "$jobs"

# gather every row there is, with the fd floor of its digit
{
    echo "| N | c | method | acc_obj | acc_eval | terminal | seam | fd | nfe | seconds | peak_mb |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    # (N, c) in folder order, then the methods in the order of EVAL.md
    for d in "$OUT"/n*-c*; do
        for m in cmad cmad-ido cdps cdps-per-sample amdm independent prior; do
            t=$d/$m/table.md
            [ -f "$t" ] || continue
            # a CMAD row is named after its controls' optimiser (the folder it was written to)
            label=$m
            [ "$m" = cmad ] && label=cmad-joint
            grep '^| [0-9]' "$t" | sed "s/| cmad |/| $label |/"
        done
    done
    echo
    for t in "$OUT"/n*-c*/*/table.md; do
        if [ -f "$t" ]; then grep '^fd floor' "$t" | sed 's/;.*//'; fi
    done | sort -u
    echo
    echo "samples per method: $N; aggregator split with $OVERLAP rows of overlap; objective classifier $CLASSIFIER; seed 0; each cell's command, commit and checkpoints are in its own table.md."
} > "$OUT/table.md"
echo "compare: table in $OUT/table.md"
[ $rc = 0 ] || echo "compare: some jobs failed (their logs are named above); run it again to retry them" >&2
exit $rc
