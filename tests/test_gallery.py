"""Metric labels (ui/metric_text.py), sample grids and InfoGAN traversals (ganmodels/samples.py), explorer URL state
(ui/explorer_state.py), principal directions (ganmodels/latent_directions.py), checkpoint comparison (ui/comparison.py)."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from PIL import Image

from ganmodels import samples
from ganmodels.cards import ModelCard, read_card
from ganmodels.checkpoint import load_model, read_weights, save_weights
from ui import comparison, explorer_state, metric_text
from ui.explorer_state import latent_to_token


@pytest.fixture(scope="module")
def tiny(tiny_checkpoints):
    """Loaded tiny models by family."""
    return {name: load_model(tiny_checkpoints / f"tiny-{name}", "cpu") for name in ("dcgan", "cgan", "infogan", "mlp", "cyclegan")}


# --- metrics ---------------------------------------------------------------------------------


def test_quality_figures_labels_format_and_order():
    metrics = {"samples": 10000, "classifier_fid": 12.2446, "classifier_fid_floor": 0.0554, "fid_to_floor": 221.023,
               "coverage_entropy_ratio": 0.9607, "class_histogram": [1, 2], "evaluated": "2026", "command": "x",
               "conditional_accuracy": 0.5, "eval_seconds": 3.0, "nan_metric": float("nan"), "flag": True}
    rows = metric_text.quality_figures(metrics)
    keys = [r["key"] for r in rows]
    assert keys == ["classifier_fid", "fid_to_floor", "coverage_entropy_ratio", "conditional_accuracy"]
    text = {r["key"]: r["text"] for r in rows}
    assert text == {"classifier_fid": "12.24", "fid_to_floor": "221x", "coverage_entropy_ratio": "96.1%",
                    "conditional_accuracy": "50.0%"}
    assert all(r["label"] != r["key"] and r["help"] for r in rows)
    assert [metric_text.metric_kind(k) for k in ("fid_to_floor", "code_purity", "target_rate_a2b_128px", "cycle_l1_a2b_128px")] == [
        "times", "percent", "percent", "number"]
    assert "classifier_fid_floor" in [r["key"] for r in metric_text.quality_figures(metrics, include_floor=True)]


def test_translation_metrics_name_their_domains():
    card = ModelCard(id="c", family="cyclegan", arch={"image_size": 128, "channels": 3, "domains": {"a": "horse", "b": "zebra"}})
    rows = metric_text.quality_figures({"target_rate_a2b_128px": 0.81, "cycle_l1_b2a_256px": 0.12,
                                    "source_rate_before_a2b_128px": 0.9}, card)
    labels = {r["key"]: r["label"] for r in rows}
    assert labels["target_rate_a2b_128px"] == "horse → zebra photos that look like zebra (128 px)"
    assert "zebra → horse → zebra" in labels["cycle_l1_b2a_256px"]
    assert [r["key"] for r in rows][:2] == ["cycle_l1_b2a_256px", "target_rate_a2b_128px"]
    assert {r["key"]: r["text"] for r in rows}["target_rate_a2b_128px"] == "81.0%"
    # above the training size (128 here) a figure says how the photo was translated
    assert metric_text.metric_label("target_rate_a2b_256px_blend", card) == "horse → zebra photos that look like zebra (256 px, scale blend)"
    assert metric_text.metric_label("target_rate_a2b_256px", card) == "horse → zebra photos that look like zebra (256 px, one pass)"
    assert metric_text.metric_label("cycle_l1_b2a_256px_blend", card) == "zebra → horse → zebra round-trip error (256 px, scale blend)"


def test_numeric_metrics_keeps_only_finite_scalars():
    out = metric_text.numeric_metrics({"a": 1, "b": 2.5, "c": [1], "d": {"x": 1}, "e": "s", "f": float("inf"), "g": False,
                                   "samples": 5})
    assert out == {"a": 1.0, "b": 2.5}
    assert metric_text.numeric_metrics(None) == {}


# --- samples ---------------------------------------------------------------------------------


def test_latest_grid_picks_newest_existing(tmp_path):
    card = ModelCard(id="m", family="dcgan", arch={"image_size": 28, "channels": 1},
                     snapshots=[{"step": 5, "grid": "grids/a.png"}, {"step": 10, "grid": "grids/b.png"},
                                {"step": 20, "grid": "grids/missing.png"}])
    assert samples.latest_grid(tmp_path, card) is None
    (tmp_path / "grids").mkdir()
    for name in ("a", "b"):
        Image.new("L", (4, 4)).save(tmp_path / "grids" / f"{name}.png")
    assert samples.latest_grid(tmp_path, card) == tmp_path / "grids" / "b.png"
    assert samples.latest_grid(tmp_path / "file.pth", card) is None


def test_sample_labels_and_grid(tiny):
    assert samples.sample_labels(tiny["dcgan"].card, 4) is None
    assert samples.sample_labels(tiny["cgan"].card, 12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert samples.sample_labels(tiny["cgan"].card, 3, label=7).tolist() == [7, 7, 7]
    img = samples.sample_grid(tiny["cgan"], seed=0, n=25, nrow=5)
    assert img.size == (5 * 28 + 6 * 2, 5 * 28 + 6 * 2)
    again = samples.sample_grid(tiny["cgan"], seed=0, n=25, nrow=5)
    assert img.tobytes() == again.tobytes()
    assert samples.sample_grid(tiny["cgan"], seed=1, n=25).tobytes() != img.tobytes()
    assert samples.grid_columns(16) == 4 and samples.grid_columns(17) == 5 and samples.grid_columns(1) == 1


# --- explorer state ---------------------------------------------------------------------------


def test_explorer_state_round_trip(tiny):
    card = tiny["cgan"].card
    state = explorer_state.ExplorerState(seed=42, psi=0.5, label=3, mode="raw", offsets={1: 1.5, 4: -0.3},
                                  token=latent_to_token(torch.zeros(1, 5)))
    query = explorer_state.explorer_query(state)
    assert query["offsets"] == "1:1.5,4:-0.3" and query["class"] == "3" and query["psi"] == "0.5"
    assert explorer_state.explorer_state_from_query(query, card) == state


def test_explorer_state_from_bad_query_falls_back(tiny):
    card = tiny["cgan"].card
    state = explorer_state.explorer_state_from_query({"seed": "abc", "psi": "-1", "class": "99", "mode": "weird",
                                               "offsets": "0:x,3:2,99:1,1:50"}, card)
    assert (state.seed, state.psi, state.label, state.mode, state.offsets, state.token) == (0, "off", 0, "principal", {3: 2.0}, None)
    assert explorer_state.explorer_state_from_query({"seed": str(2**40)}, card).seed == explorer_state.MAX_SEED
    assert explorer_state.explorer_state_from_query({"class": "7"}, card).label == 7
    # Unconditional models never carry a class.
    assert explorer_state.explorer_state_from_query({"class": "3"}, tiny["dcgan"].card).label is None
    assert "class" not in explorer_state.explorer_query(explorer_state.ExplorerState())


def test_class_by_name_and_truncation_snapping():
    card = ModelCard(id="f", family="cgan", arch={"image_size": 28, "channels": 1, "num_classes": 3, "z_dim": 4},
                     dataset={"classes": ["T-shirt/top", "Trouser"]})
    assert explorer_state.class_names(card) == ["T-shirt/top", "Trouser", "2"]
    assert explorer_state.explorer_state_from_query({"class": "Trouser"}, card).label == 1
    assert explorer_state.nearest_psi("0.55") in (0.5, 0.6)
    assert explorer_state.nearest_psi("0.71") == 0.8
    assert explorer_state.nearest_psi("9") == "off" and explorer_state.nearest_psi("nan") == "off" and explorer_state.nearest_psi(None) == "off"
    assert explorer_state.psi_value("off") is None and explorer_state.psi_value(0.5) == 0.5
    assert explorer_state.slider_count(card) == 4


# --- InfoGAN ------------------------------------------------------------------------------------


def test_infogan_codes_and_input(tiny):
    card = tiny["infogan"].card
    codes = samples.infogan_codes(card)
    assert codes == {"categorical": "category", "num_categories": 10, "continuous": ["c1", "c2"]}
    noise = samples.infogan_noise(card, 3)
    z = samples.infogan_input(card, noise, 4, [0.5, -1.0])
    z_dim = card.arch["z_dim"]
    assert z.shape == (1, tiny["infogan"].latent_size)
    assert torch.equal(z[0, :z_dim], noise[0])
    assert z[0, z_dim:z_dim + 10].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert z[0, -2:].tolist() == [0.5, -1.0]


def test_traversal_rows_are_categories_columns_sweep(tiny):
    card = tiny["infogan"].card
    z_dim = card.arch["z_dim"]
    noise = samples.infogan_noise(card, 0)
    latents, nrow = samples.traversal_latents(card, noise, 1, [-1.0, 0.0, 1.0], [0.3, 0.7])
    assert nrow == 3 and latents.shape == (30, z_dim + 12)
    grid = latents.reshape(10, 3, -1)
    assert torch.equal(grid[:, :, z_dim:z_dim + 10].argmax(-1), torch.arange(10)[:, None].expand(10, 3))
    assert torch.equal(grid[:, :, -1], torch.tensor([-1.0, 0.0, 1.0]).expand(10, 3))
    assert torch.all(grid[:, :, -2] == 0.3)
    assert torch.equal(grid[:, :, :z_dim], noise.expand(10, 3, z_dim))
    single, cols = samples.traversal_latents(card, noise, None, [5.0], [0.0, 0.0])
    assert cols == 1 and single.shape == (10, z_dim + 12)
    with pytest.raises(ValueError):
        samples.traversal_latents(card, noise, 2, [0.0], [0.0, 0.0])
    images = tiny["infogan"].generate(latents)
    assert images.shape == (30, 1, 28, 28)


def test_category_meaning_from_evaluation():
    card = ModelCard(id="i", family="infogan", arch={"image_size": 28, "channels": 1}, dataset={"classes": list("abc")},
                     metrics={"code_to_class": {"0": 2, "1": 0, "x": 1, "2": 9}})
    assert metric_text.category_meaning(card) == {0: "c", 1: "a", 2: "9"}


# --- comparing --------------------------------------------------------------------------------


@pytest.fixture
def snapshot_root(tiny_checkpoints, tmp_path):
    """tiny-dcgan with three snapshots: one kept, one dropped at publish, one that is the final generator."""
    root = tmp_path / "ck"
    folder = root / "tiny-dcgan"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", folder)
    state = {k: v + 0.05 if v.is_floating_point() else v for k, v in read_weights(folder / "generator.safetensors").items()}
    save_weights(state, folder / "snapshots" / "step_0000001.safetensors", precision="float16")
    data = json.loads((folder / "card.json").read_text())
    data["training"]["steps_done"] = 3
    data["snapshots"] = [
        {"step": 1, "weights": "snapshots/step_0000001.safetensors", "grid": None, "metrics": {"coverage_entropy_ratio": 0.2}},
        {"step": 2, "weights": None, "grid": None, "metrics": {}},
        {"step": 3, "weights": "generator.safetensors", "grid": None, "metrics": {}},
    ]
    (folder / "card.json").write_text(json.dumps(data))
    shutil.copytree(tiny_checkpoints / "tiny-infogan", root / "tiny-infogan")
    return root


def test_compare_entries(snapshot_root):
    catalogue = [{"path": str(snapshot_root / "tiny-dcgan"), "id": "tiny-dcgan", "error": None},
                 {"path": str(snapshot_root / "tiny-infogan"), "id": "tiny-infogan", "error": None},
                 {"path": str(snapshot_root / "broken"), "id": "broken", "error": "not valid JSON"}]
    entries = comparison.compare_entries(catalogue)
    assert [e.label for e in entries] == ["tiny-dcgan @ final (step 3)", "tiny-dcgan @ step 1", "tiny-infogan @ final", "broken @ final"]
    assert entries[1].weights == "snapshots/step_0000001.safetensors" and entries[1].step == 1
    assert entries[0].metrics == {"coverage_entropy_ratio": 0.5} and entries[1].metrics == {"coverage_entropy_ratio": 0.2}
    assert entries[3].error == "not valid JSON"
    rows = comparison.metric_rows(entries)
    assert rows[1] == {"label": "tiny-dcgan @ step 1", "coverage_entropy_ratio": 0.2}
    assert comparison.metric_choices(rows) == ["coverage_entropy_ratio"]
    # The snapshot really holds other weights.
    final = load_model(snapshot_root / "tiny-dcgan", "cpu")
    snap = load_model(snapshot_root / "tiny-dcgan", "cpu", weights=entries[1].weights)
    z = final.latents(0, 2)
    assert not torch.allclose(final.generate(z), snap.generate(z))


def test_compare_samples_share_latents_only_when_layout_matches(tiny):
    models = [tiny["dcgan"], tiny["cgan"], tiny["infogan"], tiny["cyclegan"], None, tiny["mlp"]]
    out = comparison.compare_samples(models, seed=5, n=4)
    dcgan, cgan, infogan, cyclegan, missing, mlp = out
    assert dcgan.shared and cgan.shared and torch.equal(dcgan.latents, cgan.latents)
    assert dcgan.labels is None and cgan.labels.tolist() == [0, 1, 2, 3]
    assert not infogan.shared and "differs" in infogan.note and infogan.latents.shape[1] == tiny["infogan"].latent_size
    assert cyclegan.latents is None and "skipped" in cyclegan.note
    assert missing is None
    same_size = tiny["mlp"].latent_size == tiny["dcgan"].latent_size
    assert mlp.shared == same_size
    assert torch.equal(dcgan.latents, tiny["dcgan"].latents(5, 4))
    # With only a CycleGAN there is no reference and nothing breaks.
    assert comparison.compare_samples([tiny["cyclegan"]], 0, 2)[0].latents is None
    assert math.isfinite(float(dcgan.latents.sum()))


def test_principal_directions_rank_by_image_change(tiny):
    """The explorer's default sliders: real gradients, shares that add up, biggest change first.

    Regression: a no_grad inside latent_directions._flat_output once made every Jacobian zero (NaN shares, arbitrary axes).
    """
    from ganmodels.latent_directions import principal_directions

    model = tiny["dcgan"]
    directions, share = principal_directions(model, k=8)
    assert torch.isfinite(share).all() and (share > 0).all() and float(share.sum()) <= 1 + 1e-5
    assert torch.all(share[:-1] >= share[1:] - 1e-6)
    assert torch.allclose(directions @ directions.T, torch.eye(8), atol=1e-4)
    probes = model.latents(0, 8)  # the latents principal_directions averages over
    change = [float((model.generate(probes + 1e-2 * d) - model.generate(probes)).pow(2).sum()) for d in (directions[0], directions[-1])]
    assert change[0] > change[1]
    cond_dirs, cond_share = principal_directions(tiny["cgan"], k=4, labels=[3])
    assert torch.isfinite(cond_share).all() and cond_dirs.shape == (4, tiny["cgan"].card.arch["z_dim"])


def test_real_card_fields_read(tiny_checkpoints):
    card = read_card(tiny_checkpoints / "tiny-cgan")
    assert explorer_state.class_names(card) == [str(i) for i in range(10)]


def test_sample_sheets_grid_and_infogan_traversals(tiny, tmp_path):
    from PIL import Image

    from ganmodels.samples import TRAVERSAL_VALUES, write_sample_sheets

    sheets = write_sample_sheets(tiny["infogan"], tmp_path)
    assert set(sheets) == {"grid", "traversal of c1", "traversal of c2"}
    grid_img = Image.open(tmp_path / sheets["grid"])
    assert grid_img.size == (10 * 30 + 2, 10 * 30 + 2)  # 28-px images, 2-px padding
    with Image.open(tmp_path / sheets["traversal of c1"]) as t1, Image.open(tmp_path / sheets["traversal of c2"]) as t2:
        assert t1.size == (len(TRAVERSAL_VALUES) * 30 + 2, 10 * 30 + 2)  # one row per category
        assert t1.tobytes() != t2.tobytes()  # each code moves the images its own way
    assert set(write_sample_sheets(tiny["dcgan"], tmp_path / "d")) == {"grid"}


def test_different_seed_always_changes_and_stays_short(monkeypatch):
    draws = iter([5, 5, 5, 17])
    monkeypatch.setattr(explorer_state.secrets, "randbelow", lambda n: next(draws))
    assert explorer_state.different_seed(5) == 17, "a draw equal to the seed on screen is drawn again"
    monkeypatch.undo()
    seeds = {explorer_state.different_seed(3) for _ in range(200)}
    assert 3 not in seeds and all(0 <= s < explorer_state.NEW_SEED_RANGE for s in seeds) and len(seeds) > 150
