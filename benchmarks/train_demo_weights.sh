#!/usr/bin/env bash
# The exact commands that made the shipped demo weights (cardiolatent/data/weights/demo_S{seed}.safetensors).
# Run by hand: about 40 minutes on 2 CPU cores (cohort ~5 min, cache ~4 min, 300 steps ~5-6 min per seed).
set -euo pipefail
WORK=${WORK:-/work/train}
STEPS=${STEPS:-300}
cardiolatent synth --n 1500 --seed 2024 --out "$WORK/cohort" --quiet
for SEED in 1701 1993 42 1994 2023; do
  cardiolatent train --images "$WORK/cohort/bulk" --cache "$WORK/cache" --out "$WORK/S$SEED" \
    --preset demo --seed "$SEED" --steps "$STEPS" --batch-size 8 --lr 3e-4 --ema-decay 0.995 \
    --holdout-fraction 0.3 --split-seed 1701 --checkpoint-every 100 --threads 2 --quiet
  cp "$WORK/S$SEED/model.safetensors" "cardiolatent/data/weights/demo_S$SEED.safetensors"
done
python benchmarks/demo_weights_gate.py --cohort "$WORK/cohort" --cache "$WORK/cache" --split "$WORK/S1701/split.tsv"
