"""Print the shipped models' bars and measured figures as a Markdown table (for the README and notes).

    python scripts/model_table.py
"""
from __future__ import annotations

from pathlib import Path

from ganmodels.cards import read_card
from ganmodels.checkpoint import list_checkpoints

ROOT = Path(__file__).resolve().parent.parent / "checkpoints"

# (metric, comparison, threshold, label) per checkpoint id: the bars of the issue that ships them.
BARS = {
    "dcgan-fashion": [("fid_to_floor", "<=", 3.0, "FID/floor"), ("coverage_entropy_ratio", ">=", 0.95, "coverage")],
    "dcgan-mnist": [("fid_to_floor", "<=", 3.0, "FID/floor"), ("coverage_entropy_ratio", ">=", 0.95, "coverage")],
    "mlp-mnist": [("coverage_entropy_ratio", ">=", 0.90, "coverage")],
    "cgan-fashion": [("conditional_accuracy", ">=", 0.85, "conditional accuracy")],
    "acgan-fashion": [("conditional_accuracy", ">=", 0.85, "conditional accuracy")],
    "infogan-mnist": [("code_purity", ">=", 0.90, "code purity")],
    "wgan-gp-mnist": [("fid_to_floor", "<=", 3.0, "FID/floor")],
    "sgan-mnist": [("test_accuracy", ">=", 0.959, "test accuracy")],
    # at the model's training size ({size}) and at the test photos' own 256 px, translated as the app does (scale blend)
    "cyclegan-horse2zebra": [("target_rate_a2b_{size}px", ">=", 0.70, "A->B target rate ({size} px, training size)"),
                             ("target_rate_b2a_{size}px", ">=", 0.70, "B->A target rate ({size} px, training size)"),
                             ("target_rate_a2b_256px_blend", ">=", 0.70, "A->B target rate (256 px, scale blend)"),
                             ("target_rate_b2a_256px_blend", ">=", 0.70, "B->A target rate (256 px, scale blend)")],
}
# the 256-px figures without _blend: one direct pass at the photos' size, the generator alone
CONTEXT = ["classifier_fid", "classifier_fid_floor", "coverage_entropy_ratio", "baseline_test_accuracy",
           "cycle_l1_a2b_256px_blend", "cycle_l1_b2a_256px_blend", "target_rate_a2b_256px", "target_rate_b2a_256px"]


def table_lines(root: Path = ROOT) -> list[str]:
    """The table as Markdown lines, so the README's copy can be checked against the cards."""
    lines = ["| model | family | trained | bar | measured | met | other figures |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in list_checkpoints(root):
        if not path.is_dir():
            continue
        card = read_card(path)
        m = card.metrics
        t = card.training
        trained = f"{t.get('steps_done')} steps, {t.get('seconds', 0) / 60:.0f} min {t.get('device', '')}"
        other = ", ".join(f"{k} {m[k]}" for k in CONTEXT if k in m)
        for key, op, bar, label in BARS.get(card.id, []):
            key, label = key.format(size=card.image_size), label.format(size=card.image_size)
            value = m.get(key)
            met = "n/a" if value is None else ("yes" if (value <= bar if op == "<=" else value >= bar) else "**no**")
            lines.append(f"| {card.id} | {card.family} | {trained} | {label} {op} {bar} | {value} | {met} | {other} |")
    return lines


def main() -> int:
    print("\n".join(table_lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
