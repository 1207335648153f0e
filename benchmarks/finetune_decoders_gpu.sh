#!/usr/bin/env bash
# Decoder-only fine-tuning of the five demo seeds (issue 15), run once on a lent H200 through the
# device tool, from the repository root, with the training pack carried in .gpu/:
#   python benchmarks/finetune_decoder.py pack --cache $WORK/cache2 --split $WORK/demo/S1701/split.tsv \
#     --out .gpu/train_pack.npz          # the session-9 training cohort (synth --n 3000 --seed 2025)
#   run: bash benchmarks/finetune_decoders_gpu.sh   (carry .gpu)
# Five seeds side by side (batch 32, lr 1e-4, EMA 0.999, RECIPE), plus one variant of seed 1701
# (VARIANT), each for TRAIN_SECONDS; the newest snapshot step common to all runs is copied to $OUT
# every minute (so a run cut short still returns weights), then evaluated on held-out cines.
# On 2 CPU cores the same run works with DEVICE=cpu and small TRAIN_SECONDS (a dry run).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
TRAIN_SECONDS=${TRAIN_SECONDS:-400}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-2}
EVERY=${EVERY:-500}
BATCH=${BATCH:-32}
W=${W:-/tmp/ft}
OUT=${OUT:-/tmp/ft_out}
PACK=${PACK:-.gpu/train_pack.npz}
PY=${PY:-python3}
# session 10: the denoiser sees standardised latents, its conditioning layers learning 10x faster
RECIPE=${RECIPE:-"--standardise-conditioning --cond-lr-scale 10"}
VARIANT=${VARIANT:-"--standardise-conditioning --cond-lr-scale 3"}
mkdir -p "$W" "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
RUNS=()
for S in 1701 1993 42 1994 2023; do
  timeout "$TRAIN_SECONDS" "$PY" benchmarks/finetune_decoder.py train --data "$PACK" --seed "$S" \
    --init "cardiolatent/data/weights/demo_S$S.safetensors" --out "$W/S$S" --device "$DEVICE" \
    --threads "$THREADS" --checkpoint-every "$EVERY" --batch-size "$BATCH" --lr 1e-4 --steps 200000 $RECIPE > "$W/S$S.log" 2>&1 &
  RUNS+=("$W/S$S")
done
timeout "$TRAIN_SECONDS" "$PY" benchmarks/finetune_decoder.py train --data "$PACK" --seed 1701 \
  --init cardiolatent/data/weights/demo_S1701.safetensors --out "$W/S1701_variant" --device "$DEVICE" \
  --threads "$THREADS" --checkpoint-every "$EVERY" --batch-size "$BATCH" --lr 1e-4 --steps 200000 $VARIANT \
  > "$W/S1701_variant.log" 2>&1 &
RUNS+=("$W/S1701_variant")
( while sleep 45; do "$PY" benchmarks/finetune_decoder.py collect --runs "${RUNS[@]}" --out "$OUT" || true; done ) &
WATCH=$!
wait $(jobs -p | grep -v "^$WATCH$") 2>/dev/null
for r in "${RUNS[@]}"; do echo "== $r"; tail -3 "$r.log"; tail -2 "$r/loss.tsv" 2>/dev/null; done
kill "$WATCH" 2>/dev/null
"$PY" benchmarks/finetune_decoder.py collect --runs "${RUNS[@]}" --out "$OUT" --evaluate --data "$PACK" \
  --init-dir cardiolatent/data/weights --device "$DEVICE"
ls -la "$OUT"
