#!/usr/bin/env bash
# The exact commands that made the shipped demo weights (cardiolatent/data/weights/demo_S{seed}.safetensors)
# and their quality gate. Run by hand from the repository root: about 70 minutes on 2 CPU cores
# (training cohort ~7 min, cache ~5 min, 800 steps of batch 4 ~7 min per seed on 2 threads or ~11 min
# on 1, gate cohort ~7 min, gate ~8 min).
#   STAGES="train gate" WORK=/work/train bash benchmarks/train_demo_weights.sh
# The shipped files were made with THREADS=1 in two lanes side by side on the 2 cores:
#   SEEDS="1701 1993 42" THREADS=1 STAGES=train bash ... & SEEDS="1994 2023" THREADS=1 STAGES=train bash ...
set -euo pipefail
WORK=${WORK:-/work/train}
STEPS=${STEPS:-800}
THREADS=${THREADS:-2}
GATE_OUT=${GATE_OUT:-$WORK/gate}
STAGES=${STAGES:-"train gate"}
SEEDS=${SEEDS:-"1701 1993 42 1994 2023"}
if [[ " $STAGES " == *" train "* ]]; then
  # training cohort: 3,000 participants, 3,285 cines; 5% of participants held out (split seed 1701)
  [[ -d "$WORK/cohort2/bulk" ]] || cardiolatent synth --n 3000 --seed 2025 --out "$WORK/cohort2" --quiet
  for SEED in $SEEDS; do
    cardiolatent train --images "$WORK/cohort2/bulk" --cache "$WORK/cache2" --out "$WORK/demo/S$SEED" \
      --preset demo --seed "$SEED" --steps "$STEPS" --batch-size 4 --lr 3e-4 --lr-schedule cosine --warmup-steps 20 \
      --ema-decay 0.995 --ema-warmup --holdout-fraction 0.05 --split-seed 1701 --checkpoint-every 100 --threads "$THREADS" \
      --weights-dtype float16 --quiet
    cp "$WORK/demo/S$SEED/model.safetensors" "cardiolatent/data/weights/demo_S$SEED.safetensors"
  done
fi
if [[ " $STAGES " == *" gate "* ]]; then
  # quality gate on a fresh cohort (another seed: none of its participants was used in training),
  # encoded from its DICOM zips by `cardiolatent encode` with the shipped files
  [[ -d "$WORK/gate_cohort/bulk" ]] || cardiolatent synth --n 3000 --seed 2026 --out "$WORK/gate_cohort" --quiet
  # a fresh GATE_OUT for new weights (encode resumes from GATE_OUT/latents.parquet)
  python benchmarks/demo_weights_gate.py --cohort "$WORK/gate_cohort" --out "$GATE_OUT"
fi
