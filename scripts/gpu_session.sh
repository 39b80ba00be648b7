#!/usr/bin/env bash
# What one lent-GPU session runs, in about 8 minutes: time-boxed trainings side by side on the one GPU for the
# quality bars the CPU could not reach (issue #4), each planning its step count from its own measured speed
# (train --minutes), then everything published packed into OUT as <=15 MiB parts (the device tool returns 16 MiB
# files). Each training is the shipped model's CPU recipe, at its CPU batch size and at four times it (the 28-px
# nets are launch-bound on a GPU, so a bigger batch costs about the same per step).
# (The 2026-11-26 version, in git history, also timed CUDA generator throughput and swept InfoGAN settings.)
# The GPU machine has no ../shared: DATA holds the IDX files of MNIST and Fashion-MNIST, carried with the call,
# never committed. checkpoints/ is not needed there.
#   OUT=/tmp/out DATA=.gpu/data MINUTES=5.5 bash scripts/gpu_session.sh
# Afterwards, here: cat OUT/pub.tar.part* | tar -x -C <dir>, then python -m ganmodels.evaluate <dir>/<id> --snapshots.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
DATA=${DATA:-.gpu/data}
MINUTES=${MINUTES:-5.5}
DEVICE=${DEVICE:-cuda}    # DEVICE=cpu MINUTES=0.2: a local dry run of the whole sequence
WORK=${WORK:-/tmp/gpu-session}
export PYTHONUNBUFFERED=1 GANSTUDIO_CACHE="$WORK/cache"
mkdir -p "$OUT" "$WORK/logs" "$WORK/pub"

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } 2>&1 \
  | tee "$OUT/gpu.txt"

echo "== trainings, $MINUTES minutes each, side by side"
train() {  # run name, then ganmodels.train arguments
  local name=$1; shift
  python3 -m ganmodels.train "$@" --name "$name" --runs-dir "$WORK/runs" --minutes "$MINUTES" --device "$DEVICE" \
    --precision fp32 --threads 2 --no-progress >"$WORK/logs/$name.log" 2>&1 &
}
source scripts/recipes.sh
WGAN=(wgan_gp --dataset mnist --data-root "$DATA/mnist" "${WGAN_GP_MNIST_RECIPE[@]}")
FASHION=(dcgan --dataset fashion-mnist --data-root "$DATA/fashion-mnist" "${DCGAN_FASHION_RECIPE[@]}")
train wgan-gp-mnist-b64 "${WGAN[@]}" --batch-size 64
train wgan-gp-mnist-b256 "${WGAN[@]}" --batch-size 256
train dcgan-fashion-b64 "${FASHION[@]}" --batch-size 64
train dcgan-fashion-b256 "${FASHION[@]}" --batch-size 256
wait
tail -n 3 "$WORK"/logs/*.log

echo "== publish"
for run in "$WORK"/runs/*/; do
  python3 -m ganmodels.publish "$run" --keep 3 --dest "$WORK/pub"
done
cp -r "$WORK/logs" "$WORK/pub/logs"
tar -C "$WORK/pub" -cf "$WORK/pub.tar" .
split -b 15M -d "$WORK/pub.tar" "$WORK/pub.tar.part"
ls -la "$WORK"/pub.tar.part*
total=0
for part in "$WORK"/pub.tar.part*; do  # up to 60 MiB back with this call
  size=$(stat -c %s "$part")
  if [ $((total + size)) -le $((60 * 1024 * 1024)) ]; then cp "$part" "$OUT/"; total=$((total + size)); fi
done
sha256sum "$WORK"/pub.tar | tee "$OUT/pub.tar.sha256"
echo "== done in $SECONDS s"
