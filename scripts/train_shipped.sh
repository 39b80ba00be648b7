#!/usr/bin/env bash
# Trains the reference classifiers and every model shipped in checkpoints/, one after another
# (2 CPU cores: never two at once; the cards hold the exact commands). bf16 where the CPU has it (--precision auto).
# Re-running it resumes an interrupted run and skips finished ones; STEPS=N extends a resumed run to N steps.
# GANSTUDIO_THREADS=1 keeps each training on one core when two jobs share a 2-core machine. RUNS=DIR puts the run
# folders there instead of runs/ (a folder outside the checkout); MINUTES sets the CIFAR-10 runs' time box. Then:
#   python -m ganmodels.publish runs/<id> && python -m ganmodels.evaluate checkpoints/<id>
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/data}
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
ONLY=${1:-}
RUNS=${RUNS:-runs}
MINUTES=${MINUTES:-150}
source scripts/recipes.sh

card_field() {  # id, key of the card's training record: prints its value (nothing when the run has no card)
  [ -f "$RUNS/$1/card.json" ] || return 0
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["training"].get(sys.argv[2], ""))' "$RUNS/$1/card.json" "$2"
}

train() {  # id, then ganmodels.train arguments
  local id=$1; shift
  [ -n "$ONLY" ] && [ "$ONLY" != "$id" ] && return 0
  if [ "$(card_field "$id" status)" = finished ]; then echo "== $id finished"; return 0; fi
  if [ -f "$RUNS/$id/state.pt" ]; then
    echo "== resuming $id"
    python -m ganmodels.train --resume "$RUNS/$id" --no-progress ${STEPS:+--steps "$STEPS"}
  else
    echo "== training $id"; python -m ganmodels.train "$@" --name "$id" --runs-dir "$RUNS" --no-progress
  fi
}

lengthen() {  # id, steps, then --hp overrides: the run train (or an earlier lengthening) finished goes on to
  # that many steps with the new schedule; an interrupted lengthening is resumed (an interrupted train exits non-zero,
  # so this never starts from anywhere else)
  local id=$1 steps=$2; shift 2
  [ -n "$ONLY" ] && [ "$ONLY" != "$id" ] && return 0
  local total; total=$(card_field "$id" total_steps)
  if [ -n "$total" ] && [ "$total" -ge "$steps" ]; then
    if [ "$(card_field "$id" status)" = finished ]; then echo "== $id lengthened to $steps"; return 0; fi
    echo "== resuming the lengthening of $id"; python -m ganmodels.train --resume "$RUNS/$id" --no-progress; return
  fi
  echo "== lengthening $id to $steps"
  python -m ganmodels.train --resume "$RUNS/$id" --steps "$steps" "$@" --no-progress
}

reference() {  # dataset, then ganmodels.classifier arguments
  [ -n "$ONLY" ] && [ "$ONLY" != "reference-$1" ] && return 0
  if [ -f "checkpoints/reference/$1/card.json" ]; then echo "== reference $1 exists"; return 0; fi
  echo "== reference classifier $1"; python -m ganmodels.classifier "$@"
}

reference mnist --data-root "$SHARED/mnist"
reference fashion-mnist --data-root "$FASHION" --epochs 2
reference horse2zebra --data-root "$SHARED/horse2zebra"
# resumable: its state after every epoch goes to the work dir, and re-running continues from there
reference cifar10 --data-root "$SHARED/cifar10" --work-dir "$RUNS/reference-cifar10"
# dcgan-mnist and dcgan-fashion (two extra 3x3 conv blocks in G and D; dcgan-fashion also draws its pixels with two
# 3x3 conv blocks at full size, and its G is twice as wide, ngf 128, against D's rate doubled) each ran as one run,
# their learning rates constant and then lowered linearly to zero (--hp decay_start). dcgan-mnist ran in float32 (an
# AMD CPU without bf16), stopped after a snapshot and resumed with --resume; dcgan-fashion in bf16, 23870 steps (a
# 95-minute plan, the decay from step 10741), then lengthened to 48000 with its rates restarted at half and lowered to
# zero again, to 72000 with them restarted at a third, and to 96000 with them restarted at a quarter; it ships the
# mean of its snapshots from step 64000, the window `python -m ganmodels.evaluate runs/dcgan-fashion --average-windows
# 56000 60000 64000 ... 88000` finds best on training images, in float16 (the size budget):
# python -m ganmodels.publish runs/dcgan-fashion --average-from 64000 --keep 3 --precision float16
# python -m ganmodels.publish --prune checkpoints/dcgan-fashion --keep 2   (and --prune checkpoints/dcgan-mnist --keep 3)
train dcgan-mnist    dcgan   --dataset mnist --data-root "$SHARED/mnist" --steps 42000 --snapshot-every 1000 --precision fp32 \
  "${DCGAN_MNIST_RECIPE[@]}"
train dcgan-fashion  dcgan   --dataset fashion-mnist --data-root "$FASHION" --steps 23870 --snapshot-every 1000 \
  "${DCGAN_FASHION_RECIPE[@]}"
lengthen dcgan-fashion 48000 --hp decay_start=0.0
lengthen dcgan-fashion 72000 --hp decay_start=0.0
lengthen dcgan-fashion 96000 --hp decay_start=0.0
train acgan-fashion  acgan   --dataset fashion-mnist --data-root "$FASHION" --steps 3000 --snapshot-every 500
train cgan-fashion   cgan    --dataset fashion-mnist --data-root "$FASHION" --steps 3000 --snapshot-every 500
train sgan-mnist     sgan    --dataset mnist --data-root "$SHARED/mnist" --labels 100 --arch d_type='"cnn"' --steps 3000 --snapshot-every 500
train mlp-mnist      mlp     --dataset mnist --data-root "$SHARED/mnist" --steps 12000 --snapshot-every 400
train infogan-mnist  infogan --dataset mnist --data-root "$SHARED/mnist" --steps 25000 --snapshot-every 1000
# in bf16 (87 min on 2 threads with AVX512-BF16): one critic step per G step (about 4x cheaper per step), G and the
# critic both at 3e-4, took it from 1.14 (five critic steps, 10000 steps, decay over the second half) to 0.20; the shipped
# one then went on to 0.150 with its rates restarted at 2e-4 and decayed again to step 44000 (64 min)
train wgan-gp-mnist  wgan_gp --dataset mnist --data-root "$SHARED/mnist" --steps 24000 --snapshot-every 1000 \
  "${WGAN_GP_MNIST_RECIPE[@]}"
lengthen wgan-gp-mnist 44000 --hp lr=2e-4 --hp lr_d=2e-4 --hp decay_start=0.54
# the shipped CycleGAN: these 45 minutes (5884 steps here), then STEPS=13000 (a second learning-rate cycle),
# then its generators go on at random photo sides 128-288 px; the shipped one is that run's step-5168 snapshot
# (docs/models/cyclegan-horse2zebra.md says why): python -m ganmodels.publish runs/cyclegan-h2z-multiscale --step 5168 --id cyclegan-horse2zebra
train cyclegan-horse2zebra cyclegan --dataset image-folder --data-root "$SHARED/horse2zebra" --image-size 128 \
  --arch ngf=32 --arch n_blocks=6 --minutes 45
if [ -f "$RUNS/cyclegan-horse2zebra/generator.safetensors" ]; then
  train cyclegan-h2z-multiscale cyclegan --init-from "$RUNS/cyclegan-horse2zebra" --dataset image-folder \
    --data-root "$SHARED/horse2zebra" --hp 'scale_range=[128,288]' --minutes 115
fi
# CIFAR-10 (issue 47), each boxed to MINUTES of wall-clock; scripts/cifar_same_budget.sh trains the first two one after
# the other and compares their classifier-FID (the bar: ours at most half the baseline's at the same time)
train dcgan-cifar10-baseline dcgan --dataset cifar10 --data-root "$SHARED/cifar10" --batch-size 128 --minutes "$MINUTES" \
  --snapshot-every 500 "${DCGAN_CIFAR10_BASELINE_RECIPE[@]}"
train dcgan-cifar10 dcgan --dataset cifar10 --data-root "$SHARED/cifar10" --batch-size 64 --minutes "$MINUTES" \
  --snapshot-every 1000 "${DCGAN_CIFAR10_RECIPE[@]}"
train acgan-cifar10 acgan --dataset cifar10 --data-root "$SHARED/cifar10" --batch-size 64 --minutes "${ACGAN_MINUTES:-240}" \
  --snapshot-every 1000 "${ACGAN_CIFAR10_RECIPE[@]}"
