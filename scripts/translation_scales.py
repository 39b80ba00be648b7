"""How a translator's effect holds as photos grow: target-domain rate and cycle L1 on the test photos at several
sides, in one direct pass of the generator and by scale blend (as the app translates larger photos).

    python scripts/translation_scales.py [CHECKPOINT] [--sizes 128 256 384 512] [--data-root DIR]

CHECKPOINT defaults to checkpoints/cyclegan-horse2zebra. horse2zebra's test photos are 256 px: larger sides are
those photos enlarged, so they test the scale of the objects, not extra detail. At and below the training size the
two ways are one translation (a single column of figures).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ganmodels.checkpoint import load_model
from ganmodels.evaluate import translation_metrics

DEFAULT = Path(__file__).resolve().parent.parent / "checkpoints" / "cyclegan-horse2zebra"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", nargs="?", default=str(DEFAULT))
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384, 512])
    p.add_argument("--data-root", help="the dataset folder with testA/ and testB/ (default: the card's)")
    p.add_argument("--reference-root", help="another folder of reference classifiers (default checkpoints/reference)")
    args = p.parse_args(argv)
    model = load_model(args.checkpoint, device="cpu")
    m = translation_metrics(model, args.sizes, args.data_root, args.reference_root)
    directions = [d for d in ("a2b", "b2a") if f"target_rate_{d}_{args.sizes[0]}px" in m]
    print(f"{model.card.id}: trained on {model.card.image_size}-px crops; {m['test_images']} test photos")
    print("| side | " + " | ".join(f"{d} {what}" for d in directions for what in ("target rate", "cycle L1")) + " |")
    print("| --- " * (1 + 2 * len(directions)) + "|")
    for size in sorted(set(args.sizes)):
        cells = [f"{size} px"]
        for d in directions:
            for kind in ("target_rate", "cycle_l1"):
                direct, blend = m.get(f"{kind}_{d}_{size}px"), m.get(f"{kind}_{d}_{size}px_blend")
                cells.append(f"{direct}" if blend is None else f"{direct} direct, {blend} blend")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
