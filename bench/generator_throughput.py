"""Images per second of every latent generator in checkpoints/, batch 1 and 64, CPU (and CUDA when present).

Baseline: plain eager `G(z)` with autograd on, float32 contiguous (what a naive page would do).
Ours: `LoadedModel.generate` (the app's path: no autograd, batched, result on the CPU: on CUDA this includes
the copy back to the host that the baseline skips, so compare CUDA variants with inference_mode instead).
Tried on the conv models: channels_last memory format, and torch.compile (compile time reported apart), each
against inference_mode `G(z)`: the same call with the result left where it was computed.

    python -m bench.generator_throughput [--checkpoints DIR] [--devices cpu,cuda] [--models ID,...] [--pause-training]
                                         [--no-compile] [--smoke]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench._common import bench_parser, figure, machine, ratio, table, training_paused

import torch
from torch import nn


def is_conv(module: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in module.modules())


PAUSE = False  # set from --pause-training: each timed window (seconds) pauses the training queue


def images_per_s(fn, batch: int, min_time: float, sync, windows: int = 3) -> float:
    """Best of `windows` timed windows, each at least `min_time` seconds long after one warm-up call."""
    fn()
    sync()
    best = 0.0
    for _ in range(windows):
        with training_paused(PAUSE, quiet=True):
            best = max(best, _window(fn, batch, min_time, sync))
    return best


def _window(fn, batch: int, min_time: float, sync) -> float:
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        sync()
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n * batch / dt


def model_folders(root: Path) -> list[Path]:
    from ganmodels.checkpoint import list_checkpoints

    return [p for p in list_checkpoints(root) if p.is_dir()]


def bench_model(path: Path, device: torch.device, batches: list[int], min_time: float, try_compile: bool) -> list[dict]:
    from ganmodels.checkpoint import load_model

    model = load_model(path, device, companions=False)
    if model.family.translator:
        return []  # CycleGAN: see bench/cyclegan_latency.py
    G = model.generator
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    rows = []
    for batch in batches:
        z = model.latents(seed=0, n=batch)
        labels = torch.arange(batch) % model.card.arch["num_classes"] if model.family.conditional else None
        z_dev = z.to(device)
        y_dev = labels.to(device) if labels is not None else None
        row = {"model": model.card.id, "device": device.type, "batch": batch}

        # Baseline: autograd on, eager, contiguous.
        row["baseline"] = images_per_s(lambda: G(z_dev, y_dev), batch, min_time, sync)
        # Ours: the app's call.
        row["ours"] = images_per_s(lambda: model.generate(z, labels), batch, min_time, sync)
        with torch.inference_mode():
            row["inference_mode"] = images_per_s(lambda: G(z_dev, y_dev), batch, min_time, sync)
        if is_conv(G):
            G.to(memory_format=torch.channels_last)
            try:
                with torch.inference_mode():
                    row["channels_last"] = images_per_s(lambda: G(z_dev, y_dev), batch, min_time, sync)
            finally:
                G.to(memory_format=torch.contiguous_format)
            if try_compile:
                torch._dynamo.reset()
                compiled = torch.compile(G)
                with torch.inference_mode():
                    t0 = time.perf_counter()
                    compiled(z_dev, y_dev)
                    sync()
                    row["compile_s"] = time.perf_counter() - t0
                    row["compiled"] = images_per_s(lambda: compiled(z_dev, y_dev), batch, min_time, sync)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    p = bench_parser(__doc__, checkpoints=True)
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes of CPU on a small machine)")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per timed window")
    p.add_argument("--devices", help="comma-separated, e.g. cuda (default: cpu, and cuda when present)")
    p.add_argument("--models", help="comma-separated checkpoint ids (default: every latent model)")
    args = p.parse_args(argv)

    tmp = None
    root = args.checkpoints
    folders = [] if args.smoke else model_folders(root)
    if args.models:
        wanted = set(args.models.split(","))
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        from tests.conftest import build_tiny_checkpoints

        tmp = tempfile.TemporaryDirectory(prefix="bench-tiny-")
        root = build_tiny_checkpoints(Path(tmp.name))
        folders = model_folders(root)
        print(f"using tiny random-weight checkpoints in {root} ({'--smoke' if args.smoke else 'no models in ' + str(args.checkpoints)})")
    min_time = 0.01 if args.smoke else args.min_time
    try_compile = not (args.smoke or args.no_compile)
    if args.devices:
        devices = [torch.device(d) for d in args.devices.split(",")]
    else:
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(machine())

    rows = []
    global PAUSE
    PAUSE = args.pause_training
    for device in devices:
        for folder in folders:
            rows += bench_model(folder, device, [1, 64], min_time, try_compile)

    headers = ["model", "device", "batch", "baseline img/s", "ours img/s", "ours/base", "inference_mode/base",
               "channels_last/inference_mode", "compiled/inference_mode", "compile s"]
    out = []
    for r in rows:
        tag = f"{r['model']} {r['device']} b{r['batch']}"
        figure(f"{tag} baseline", r["baseline"], "img/s")
        figure(f"{tag} ours", r["ours"], "img/s")
        ratio(f"{tag} ours/baseline", r["ours"], r["baseline"])
        cl = r.get("channels_last")
        cm = r.get("compiled")
        figure(f"{tag} inference_mode", r["inference_mode"], "img/s")
        if cl:
            figure(f"{tag} channels_last", cl, "img/s")
        if cm:
            figure(f"{tag} compiled", cm, "img/s", f"first call {r['compile_s']:.1f} s")
        out.append([r["model"], r["device"], r["batch"], r["baseline"], r["ours"], f"{r['ours'] / r['baseline']:.2f}x",
                    f"{r['inference_mode'] / r['baseline']:.2f}x", f"{cl / r['inference_mode']:.2f}x" if cl else "-",
                    f"{cm / r['inference_mode']:.2f}x" if cm else "-", f"{r['compile_s']:.1f}" if cm else "-"])
    table(headers, out)

    # Recommend only what pays on every conv model and batch size measured.
    for key, label in (("channels_last", "channels_last"), ("compiled", "torch.compile")):
        gains = [r[key] / r["inference_mode"] for r in rows if key in r]
        if not gains:
            continue
        verdict = "RECOMMEND" if min(gains) > 1.10 else "do not recommend"
        print(f"{label}: {verdict} (gain over inference_mode from {min(gains):.2f}x to {max(gains):.2f}x across conv models and batches)")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
