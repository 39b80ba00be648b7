#!/usr/bin/env bash
# What one lent-GPU session runs, in about 9 minutes (see bench/README.md and the model cards):
#   1. CUDA generator throughput of every shipped latent model (the GPU idle otherwise);
#   2. time-boxed trainings side by side on the one GPU: CycleGAN at 128 px, WGAN-GP, and an InfoGAN sweep
#      (seeds and two settings), each planning its step count from its own measured speed (train --minutes);
#   3. the InfoGAN runs evaluated, the one with the purest categorical code published as infogan-mnist;
#   4. everything published packed into OUT as <=15 MiB parts (the device tool returns 16 MiB files);
#   5. if time is left, torch.compile probed on one model.
# The GPU machine has no ../shared: DATA holds the datasets the trainings need (MNIST's IDX files and a
# horse2zebra copy resized to CycleGAN's 144-px load size), carried with the call, never committed.
#   OUT=/tmp/out DATA=.gpu/data MINUTES=5 bash scripts/gpu_session.sh
# Afterwards, here: cat OUT/pub.tar.part* | tar -x -C <dir>, then python -m ganmodels.evaluate <dir>/<id> --snapshots.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
DATA=${DATA:-.gpu/data}
MINUTES=${MINUTES:-5}
DEVICE=${DEVICE:-cuda}    # DEVICE=cpu MINUTES=0.2 SAMPLES=500: a local dry run of the whole sequence
SAMPLES=${SAMPLES:-10000}
WORK=${WORK:-/tmp/gpu-session}
export PYTHONUNBUFFERED=1 GANSTUDIO_CACHE="$WORK/cache"
mkdir -p "$OUT" "$WORK/logs" "$WORK/pub" ../shared/data
for d in mnist horse2zebra; do
  [ -e "../shared/data/$d" ] || ln -s "$PWD/$DATA/$d" "../shared/data/$d"
done

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$OUT/gpu.txt"

echo "== generator throughput (CUDA)"
timeout 150 python3 bench/generator_throughput.py --devices "$DEVICE" --no-compile --min-time 0.25 2>&1 \
  | tee "$OUT/generator_throughput_cuda.txt" | tail -25

echo "== trainings, $MINUTES minutes each, side by side"
train() {  # run name, then ganmodels.train arguments
  local name=$1; shift
  python3 -m ganmodels.train "$@" --name "$name" --runs-dir "$WORK/runs" --minutes "$MINUTES" --device "$DEVICE" --threads 2 \
    --no-progress >"$WORK/logs/$name.log" 2>&1 &
}
train cyclegan-horse2zebra cyclegan --dataset image-folder --data-root ../shared/data/horse2zebra --image-size 128 \
  --arch ngf=32 --arch n_blocks=6
train wgan-gp-mnist wgan_gp --dataset mnist
train infogan-seed0 infogan --dataset mnist --seed 0
train infogan-seed1 infogan --dataset mnist --seed 1
train infogan-seed2 infogan --dataset mnist --seed 2
train infogan-noise0.1 infogan --dataset mnist --seed 0 --hp instance_noise=0.1
train infogan-cat2 infogan --dataset mnist --seed 0 --arch lambda_cat=2.0
wait
tail -n 3 "$WORK"/logs/*.log

echo "== InfoGAN sweep: evaluate, publish the purest"
python3 -m ganmodels.evaluate "$WORK"/runs/infogan-* --samples "$SAMPLES" 2>&1 | tee "$WORK/logs/infogan-evaluate.log" | tail -n 12
best=$(python3 - "$WORK/runs" <<'EOF'
import json, sys
from pathlib import Path
rows = []
for card in sorted(Path(sys.argv[1]).glob("infogan-*/card.json")):
    c = json.loads(card.read_text())
    m = c.get("metrics", {})
    rows.append((m.get("code_purity", -1), card.parent.name, c["training"]["steps_done"], m.get("classifier_fid")))
for r in sorted(rows, reverse=True):
    print(f"{r[1]}: purity {r[0]} fid {r[3]} steps {r[2]}", file=sys.stderr)
print(max(rows)[1] if rows else "")
EOF
)
mkdir -p "$WORK/pub/sweep"
for f in "$WORK"/runs/infogan-*/card.json; do cp "$f" "$WORK/pub/sweep/$(basename "$(dirname "$f")").json"; done
[ -n "$best" ] && python3 -m ganmodels.publish "$WORK/runs/$best" --id infogan-mnist --keep 5 --dest "$WORK/pub"
python3 -m ganmodels.publish "$WORK/runs/cyclegan-horse2zebra" --keep 3 --dest "$WORK/pub"
python3 -m ganmodels.publish "$WORK/runs/wgan-gp-mnist" --keep 4 --dest "$WORK/pub"
cp -r "$WORK/logs" "$WORK/pub/logs"
tar -C "$WORK/pub" -cf "$WORK/pub.tar" .
split -b 15M -d "$WORK/pub.tar" "$WORK/pub.tar.part"
ls -la "$WORK"/pub.tar.part*
total=0
for part in "$WORK"/pub.tar.part*; do  # up to 60 MiB back with this call; the rest waits in WORK for the next
  size=$(stat -c %s "$part")
  if [ $((total + size)) -le $((60 * 1024 * 1024)) ]; then cp "$part" "$OUT/"; total=$((total + size)); fi
done
sha256sum "$WORK"/pub.tar | tee "$OUT/pub.tar.sha256"

if [ "$SECONDS" -lt 450 ]; then
  echo "== torch.compile probe (CUDA, dcgan-mnist)"
  timeout $((560 - SECONDS)) python3 bench/generator_throughput.py --devices "$DEVICE" --models dcgan-mnist --min-time 0.25 2>&1 \
    | tee "$OUT/compile_probe_cuda.txt" | tail -6
fi
echo "== done in $SECONDS s"
