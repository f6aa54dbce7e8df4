#!/bin/sh
# Redraws the committed diagrams from the six NasRec-ref files in tests/data/nasrec_ref/:
# docs/images/<dataset>_nasrec_<small|full>.png, criteo_nasrec_full.svg and, with --hide-unused,
# criteo_nasrec_full_live.png. Needs graphviz's `dot`; run from anywhere: sh docs/images/make.sh
set -e
cd "$(dirname "$0")/../.."
for dataset in criteo avazu kdd; do
    for pair in autoctr:small xlarge:full; do
        ref="tests/data/nasrec_ref/${dataset}_ea_${dataset}_kaggle_${pair%%:*}_best_1shot.json"
        genotype render "$ref" -o "docs/images/${dataset}_nasrec_${pair#*:}.png"
    done
done
genotype render tests/data/nasrec_ref/criteo_ea_criteo_kaggle_xlarge_best_1shot.json -o docs/images/criteo_nasrec_full.svg
genotype render tests/data/nasrec_ref/criteo_ea_criteo_kaggle_xlarge_best_1shot.json --hide-unused \
    -o docs/images/criteo_nasrec_full_live.png
