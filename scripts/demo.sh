#!/bin/sh
# make demo: fetch MNIST if missing, train CMAD controls with the fast preset (N=2, digit 3),
# run the baselines on the same noise and write the report.  Needs the pretrained models in
# models/ (make models retrains them); AMDM and independent need models/unet-s-cond.
# 16 samples per method on the 500-step grid keep it within about 20 minutes on two cores;
# `cmad eval` with the default 256 samples (or --paper) gives the numbers the README tables
# quote.  CDPS "parity" uses the batch-mean loss, so its step depends on the batch size
# (16 here, 64 in the tables).
set -e
cd "$(dirname "$0")/.."
[ -f data/mnist/t10k-labels-idx1-ubyte ] || sh data/fetch_mnist.sh data/mnist
for m in unet-s mlp-robust cnn-eval; do
    [ -f models/$m.safetensors ] || { echo "demo: models/$m.safetensors is missing (make models trains it)" >&2; exit 1; }
done
methods=cmad,cdps,prior
[ -f models/unet-s-cond.safetensors ] && methods=cmad,cdps,amdm,independent,prior
CMAD=${CMAD:-build/cmad}
$CMAD control train --agents 2 --target 3 --preset fast --seed 3 --out results/demo/ctrl.safetensors --curve results/demo/ctrl.csv
$CMAD eval --agents 2 --target 3 --methods $methods --controls results/demo/ctrl.safetensors \
    --curve results/demo/ctrl.csv --n 16 --batch 16 --seed 0 --out results/demo
echo "demo: report in results/demo/report.html"
