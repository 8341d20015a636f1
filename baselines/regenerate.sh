#!/usr/bin/env bash
# Make the committed baselines with vosbench itself, or check fresh runs against them.
#
#   bash baselines/regenerate.sh                 # quick set  -> baselines/baseline.csv, baselines/baseline.md
#   bash baselines/regenerate.sh --check         # quick set, then `vosbench check` against baselines/baseline.csv (CI)
#   bash baselines/regenerate.sh --full          # full set   -> baselines/leaderboard.{md,csv}, baselines/davis16-val-mini_per_sequence.md
#   bash baselines/regenerate.sh --full --check  # full set, then `vosbench check` against baselines/leaderboard.csv
#   --runs DIR keeps the run folders in DIR (default: a temporary folder, removed at the end)
#
# Data every CI machine has: the real DAVIS-2016 sample in ../shared/data/davis16-val-mini
# (override with VOSBENCH_SHARED_DATA=/path/to/shared/data) and the generated synthetic-* sets
# (written into $VOSBENCH_CACHE on first use). Models that need no download: identity, lab,
# resnet18 (random init with its fixed seed). Always on CPU, so the numbers do not depend on a GPU.
# The check fails when any metric moves by more than 0.05 points in either direction: a change
# that moves a score must come with a regenerated baseline (run this script without --check).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${VOSBENCH_SHARED_DATA:-../shared/data}/davis16-val-mini"
TOLERANCE=0.05
mode=write
set=quick
runs=""
while [ $# -gt 0 ]; do
    case "$1" in
        --check) mode=check ;;
        --full) set=full ;;
        --runs) runs="$2"; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "baselines/regenerate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ ! -d "$DATA" ]; then
    echo "baselines/regenerate.sh: $DATA not found: the real DAVIS-2016 sample must sit in ../shared/data beside the repo (or set VOSBENCH_SHARED_DATA)" >&2
    exit 2
fi
if [ -z "$runs" ]; then
    runs="$(mktemp -d)"
    trap 'rm -rf "$runs"' EXIT
fi
mkdir -p "$runs"

run() {
    echo "+ vosbench run $*"
    local log="$runs/.last-run.log"
    if ! vosbench run --out "$runs" --device cpu --no-save-predictions "$@" >"$log" 2>&1; then
        cat "$log"
        exit 1
    fi
    tail -n 2 "$log" | head -n 1
}

if [ "$set" = quick ]; then
    # all six real sequences for the copy-frame-0 baseline (equals the official reference numbers);
    # one real sequence for the three models, to keep CI short
    run --model identity --dataset davis16-val --data-root "$DATA"
    for model in identity lab resnet18; do
        run --model "$model" --dataset davis16-val --data-root "$DATA" --sequences car-shadow
    done
    for model in identity lab resnet18; do
        run --model "$model" --dataset synthetic-davis
    done
    run --model lab --dataset synthetic-ytvos
    run --model lab --dataset synthetic-jhmdb
    run --model resnet18 --dataset synthetic-jhmdb
    baseline=baselines/baseline.csv
else
    for model in identity lab resnet18; do
        run --model "$model" --dataset davis16-val --data-root "$DATA"
        for dataset in synthetic-davis synthetic-ytvos synthetic-jhmdb; do
            run --model "$model" --dataset "$dataset"
        done
    done
    baseline=baselines/leaderboard.csv
fi

if [ "$mode" = check ]; then
    vosbench check --baseline "$baseline" --runs "$runs" --tolerance "$TOLERANCE" --both-ways
elif [ "$set" = quick ]; then
    vosbench check --baseline baselines/baseline.csv --runs "$runs" --update
    vosbench leaderboard --runs "$runs" --out baselines/baseline.md
else
    vosbench leaderboard --runs "$runs" --format csv --out baselines/leaderboard.csv
    vosbench leaderboard --runs "$runs" --out baselines/leaderboard.md
    vosbench leaderboard --runs "$runs" --per-sequence --dataset davis16-val --out baselines/davis16-val-mini_per_sequence.md
fi
