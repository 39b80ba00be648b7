"""Milliseconds per photo through the CycleGAN page's code path, against a plain eager `model(x)` loop.

Ours:     ui.translation.translate_upload(model, jpeg_bytes, "a2b", name, max_side=512): decode the
          untrusted bytes, bound the size (the page's default largest side, 512), translate and reconstruct
          (when the checkpoint holds both directions) by scale blend, as the page does by default (a photo
          larger than the training size also passes through the generator shrunk to it), convert to PIL.
          No autograd. Also with blend=False (one direct pass per direction, the baseline's work).
Baseline: the same generator passes on a ready tensor of the size ours computes, `G_a2b(x)` then
          `G_b2a(y)`, eager with autograd on: what a plain script does, minus decoding.
Inputs:   a 256x256 JPEG (computed at 256x256) and a 1024x768 JPEG upload (computed at 512x384).
Candidate: ours with the generators in channels_last memory format (reported, not applied).
Models:   the shipped checkpoints/cyclegan-horse2zebra when present, and a ResNet-9 ngf-64 pair with random
          weights (upstream's horse2zebra architecture).

    python -m bench.cyclegan_latency [--repeats 3] [--pause-training] [--smoke]
"""
from __future__ import annotations

import io
import statistics
import tempfile
from pathlib import Path

from bench._common import bench_parser, figure, machine, ratio, table, time_calls, training_paused

import numpy as np
import torch
from PIL import Image


def jpeg(width: int, height: int, seed: int = 0) -> bytes:
    """A photo-like JPEG: smooth colour gradients plus noise, so the decoder does real work."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x / width * 200, y / height * 180, (x + y) / (width + height) * 160], axis=-1)
    arr = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def random_resnet_checkpoint(root: Path, ngf: int, n_blocks: int) -> Path:
    """A cyclegan checkpoint folder (both directions) with random weights, loaded the way the app loads any."""
    from ganmodels.cards import ModelCard
    from ganmodels.checkpoint import save_model_folder
    from ganmodels.registry import get_family

    family = get_family("cyclegan")
    arch = {**family.default_arch(256, 3, 0), "ngf": ngf, "n_blocks": n_blocks, "domains": {"a": "horse", "b": "zebra"}}
    torch.manual_seed(0)
    card = ModelCard(id=f"random-resnet{n_blocks}-ngf{ngf}", family="cyclegan", arch=arch, dataset={"name": "none"},
                     title=f"Random ResNet-{n_blocks} ngf {ngf}")
    return save_model_folder(root / card.id, card, family.build_generator(arch).eval())


def bench_model(path: Path, inputs: dict[str, bytes], repeats: int, pause: bool) -> list[dict]:
    from ganmodels.checkpoint import load_model
    from ganmodels.images import decode_upload, from_pil
    from ui.translation import translate_upload

    model = load_model(path, "cpu")
    gens = model.generator
    direction = "a2b" if "a2b" in gens else next(iter(gens.keys()))
    back = {"a2b": "b2a", "b2a": "a2b"}[direction]
    rows = []
    for label, data in inputs.items():
        x = from_pil(decode_upload(data, max_side=512).image, 3)  # the tensor ours computes on

        def baseline():
            y = gens[direction](x)
            if back in gens:
                gens[back](y)

        def ours(blend=True):
            translate_upload(model, data, direction, "bench.jpg", max_side=512, blend=blend)

        with training_paused(pause):
            base_s = time_calls(baseline, 1, repeats)
            ours_s = time_calls(ours, 1, repeats)
            direct_s = time_calls(lambda: ours(blend=False), 1, repeats)
        gens.to(memory_format=torch.channels_last)  # candidate: oneDNN's preferred layout for 3x3 convs
        try:
            with training_paused(pause):
                cl_s = time_calls(ours, 1, repeats)
        finally:
            gens.to(memory_format=torch.contiguous_format)
        rows.append({"model": model.card.id, "input": label, "computed": f"{x.shape[3]}x{x.shape[2]}",
                     "passes": 2 if back in gens else 1, "baseline_ms": statistics.median(base_s) * 1000,
                     "ours_ms": statistics.median(ours_s) * 1000, "direct_ms": statistics.median(direct_s) * 1000,
                     "cl_ms": statistics.median(cl_s) * 1000})
    return rows


def main(argv=None) -> int:
    p = bench_parser(__doc__, repeats=3, checkpoints=True)
    args = p.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="bench-cyclegan-")
    root = Path(tmp.name)
    models = []
    if args.smoke:
        from tests.conftest import build_tiny_checkpoints

        models.append(build_tiny_checkpoints(root / "tiny") / "tiny-cyclegan")
        models.append(random_resnet_checkpoint(root, ngf=4, n_blocks=9))
        repeats = 1
    else:
        shipped = args.checkpoints / "cyclegan-horse2zebra"
        if (shipped / "card.json").is_file():
            models.append(shipped)
        else:
            print(f"no shipped CycleGAN at {shipped}: measuring the random ResNet-9 only")
        models.append(random_resnet_checkpoint(root, ngf=64, n_blocks=9))
        repeats = args.repeats
    inputs = {"256x256 jpeg": jpeg(256, 256), "1024x768 upload": jpeg(1024, 768, seed=1)}
    print(machine())

    rows = []
    for path in models:
        rows += bench_model(path, inputs, repeats, args.pause_training)
    out = []
    for r in rows:
        tag = f"{r['model']} {r['input']}"
        figure(f"{tag} baseline", r["baseline_ms"], "ms", f"eager G(x) with autograd, computed at {r['computed']}")
        figure(f"{tag} ours", r["ours_ms"], "ms", "translate_upload: decode + translate + reconstruct + PIL, scale blend")
        figure(f"{tag} ours direct", r["direct_ms"], "ms", "translate_upload with blend=False")
        figure(f"{tag} ours+channels_last", r["cl_ms"], "ms", "candidate: generators in channels_last")
        rr = ratio(f"{tag} ours vs baseline", r["ours_ms"], r["baseline_ms"], higher_is_better=False)
        rd = ratio(f"{tag} ours direct vs baseline", r["direct_ms"], r["baseline_ms"], higher_is_better=False)
        rc = ratio(f"{tag} channels_last vs ours", r["cl_ms"], r["ours_ms"], higher_is_better=False)
        out.append([r["model"], r["input"], r["computed"], r["passes"], r["baseline_ms"], r["ours_ms"], f"{rr:.2f}x",
                    r["direct_ms"], f"{rd:.2f}x", r["cl_ms"], f"{rc:.2f}x"])
    table(["model", "input", "computed at", "passes", "baseline ms", "ours ms (scale blend)", "speed-up",
           "ours direct ms", "direct speed-up", "channels_last ms", "channels_last gain"], out)
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
