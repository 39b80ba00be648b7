"""Offline metrics: the formulas on known inputs, and evaluate_path on tiny trained runs with a tiny reference classifier."""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganmodels import classifier as gclassifier
from ganmodels import evaluate as gevaluate
from ganmodels import train as gtrain
from ganmodels.cards import read_card
from ganmodels.checkpoint import list_checkpoints, load_model
from ganmodels.data import default_root
from ganmodels.classifier import load_reference, train_reference
from ganmodels.evaluate import code_purity, coverage, evaluate_path, evaluation_inputs, frechet_distance
from ganmodels.families import sgan as sgan_module

REPO = Path(__file__).resolve().parent.parent

# ================================ formulas ========================================================


@pytest.fixture(scope="module")
def features():
    return torch.randn(600, 8, generator=torch.Generator().manual_seed(0)).double()


def test_frechet_identical_sets_is_zero(features):
    assert abs(frechet_distance(features, features)) < 1e-8
    assert abs(frechet_distance(features, features[torch.randperm(600)])) < 1e-8, "order does not matter"


def test_frechet_grows_with_shift(features):
    distances = [frechet_distance(features, features + shift) for shift in (0.25, 0.5, 1.0, 2.0)]
    assert distances == sorted(distances) and distances[0] > 0
    # equal covariances: the distance is exactly the squared mean difference, 8 dims * shift^2
    for d, shift in zip(distances, (0.25, 0.5, 1.0, 2.0)):
        assert d == pytest.approx(8 * shift**2, rel=1e-6)


def test_frechet_sees_covariance(features):
    scaled = frechet_distance(features, features * 2)
    assert scaled > 1.0
    # for zero-mean-ish Gaussians N(0, S) vs N(0, 4S): Tr S + Tr 4S - 2 Tr 2S = Tr S
    s_trace = torch.var(features, dim=0, unbiased=True).sum().item()
    mean_term = ((features.mean(0) - 2 * features.mean(0)) ** 2).sum().item()
    assert scaled == pytest.approx(s_trace + mean_term, rel=1e-6)


def test_frechet_handles_constant_features():
    """Dead ReLU units give singular covariances; the distance must stay finite and non-negative."""
    a = torch.randn(50, 16, generator=torch.Generator().manual_seed(1)).clamp_min(0)
    a[:, :5] = 0
    b = a + 0.1
    d = frechet_distance(a, b)
    assert math.isfinite(d) and d == pytest.approx(16 * 0.01, rel=1e-4)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_coverage():
    uniform = coverage(torch.arange(1000) % 10, 10)
    assert uniform["coverage_entropy_ratio"] == 1.0
    assert uniform["class_histogram"] == [100] * 10
    collapsed = coverage(torch.full((500,), 3), 10)
    assert collapsed["coverage_entropy_ratio"] == 0.0
    assert collapsed["class_histogram"] == [0, 0, 0, 500] + [0] * 6
    two = coverage(torch.tensor([0, 1] * 50), 10)
    assert two["coverage_entropy_ratio"] == pytest.approx(math.log(2) / math.log(10), abs=1e-4)


def test_code_purity_permuted_mapping():
    perm = torch.tensor([3, 7, 0, 9, 1, 4, 8, 2, 6, 5])
    codes = torch.arange(200) % 10
    result = code_purity(codes, perm[codes], 10, 10)
    assert result["code_purity"] == 1.0
    assert result["code_to_class"] == {i: int(perm[i]) for i in range(10)}
    noisy = perm[codes].clone()
    noisy[:20] = (noisy[:20] + 1) % 10  # 10% of samples go to a wrong class
    assert code_purity(codes, noisy, 10, 10)["code_purity"] == 0.9
    assert code_purity(codes, torch.zeros(200, dtype=torch.long), 10, 10)["code_purity"] == 0.1
    confusion = torch.tensor(result["code_confusion"])
    assert confusion.sum() == 200 and (confusion.max(1).values == 20).all()


# ================================ evaluate_path on tiny runs ==============================================


@pytest.mark.parametrize("family", ["dcgan", "cgan", "infogan"])
def test_evaluation_inputs_truncate_the_noise_but_not_labels_or_codes(tiny_checkpoints, family):
    model = load_model(tiny_checkpoints / f"tiny-{family}", device="cpu")
    z_dim = model.card.arch["z_dim"]
    plain_z, plain_labels, plain_codes = evaluation_inputs(model, 200)
    cut_z, cut_labels, cut_codes = evaluation_inputs(model, 200, psi=0.5)
    assert plain_z[:, :z_dim].abs().max() > 1.5, "untruncated noise reaches the normal's tails"
    assert cut_z[:, :z_dim].abs().max() <= 0.5
    torch.testing.assert_close(cut_z[:, z_dim:], plain_z[:, z_dim:])  # InfoGAN's codes ride behind the noise
    assert (cut_labels is None and plain_labels is None) or torch.equal(cut_labels, plain_labels)
    assert (cut_codes is None and plain_codes is None) or torch.equal(cut_codes, plain_codes)


TINY_ARGS = {
    "dcgan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "cgan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "infogan": ["--arch", "ngf=8", "--arch", "ndf=8"],
    "sgan": ["--arch", "g_hidden=32", "--arch", "d_hidden=[32,16]", "--labels", "50"],
    "cyclegan": ["--image-size", "32", "--arch", "n_blocks=2", "--arch", "ngf=8", "--arch", "ndf=8"],
}
SAMPLES = 64


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_mnist, tiny_unpaired):
    """Tiny reference classifiers and tiny 2-step runs, built once for the module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    original = sgan_module.train_plain_classifier
    mp.setattr(sgan_module, "train_plain_classifier", lambda *a, **k: original(*a, **{**k, "steps": 30}))
    reference_root = tmp_path_factory.mktemp("reference")
    card = train_reference("mnist", data_root=str(tiny_mnist), epochs=1, out=reference_root)
    assert card["arch"]["num_classes"] == 10 and 0 <= card["metrics"]["test_accuracy"] <= 1
    train_reference("horse2zebra", data_root=str(tiny_unpaired), epochs=1, out=reference_root)
    runs = tmp_path_factory.mktemp("runs")
    for family, extra in TINY_ARGS.items():
        argv = [family, "--steps", "2", "--snapshot-every", "1", "--runs-dir", str(runs), "--name", family, "--no-progress", *extra]
        if family == "cyclegan":
            argv += ["--dataset", "image-folder", "--data-root", str(tiny_unpaired), "--batch-size", "1"]
        else:
            argv += ["--data-root", str(tiny_mnist), "--batch-size", "16"]
        assert gtrain.main(argv) == 0
    gevaluate.RealStats._cache.clear()
    yield {"runs": runs, "reference": reference_root, "mnist": tiny_mnist, "unpaired": tiny_unpaired}
    gevaluate.RealStats._cache.clear()
    mp.undo()


def test_reference_classifier_files(env):
    folder = env["reference"] / "mnist"
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "reference-classifier" and card["classes"] == [str(i) for i in range(10)]
    ref = load_reference("mnist", env["reference"])
    feats, preds = ref.features_and_predictions(torch.zeros(5, 1, 28, 28))
    assert feats.shape == (5, 128) and preds.shape == (5,)
    # uint8 batches are accepted too, and 32-px images are resized to what the classifier saw
    feats8, _ = ref.features_and_predictions(torch.full((2, 1, 32, 32), 128, dtype=torch.uint8))
    assert feats8.shape == (2, 128)
    with pytest.raises(FileNotFoundError, match="python -m ganmodels.classifier fashion-mnist"):
        load_reference("fashion-mnist", env["reference"])


def check_common(metrics: dict) -> None:
    assert metrics["samples"] == SAMPLES
    assert math.isfinite(metrics["classifier_fid"]) and metrics["classifier_fid"] >= 0
    assert math.isfinite(metrics["classifier_fid_floor"]) and metrics["classifier_fid_floor"] >= 0
    assert 0.0 <= metrics["coverage_entropy_ratio"] <= 1.0
    assert sum(metrics["class_histogram"]) == SAMPLES and len(metrics["class_histogram"]) == 10
    assert -1 <= metrics["output_min"] <= metrics["output_max"] <= 1
    assert metrics["command"].startswith("python -m ganmodels.evaluate ")
    assert "evaluated" in metrics and metrics["eval_seconds"] >= 0


@pytest.mark.parametrize(
    "family,specific",
    [
        ("dcgan", []),
        ("cgan", ["conditional_accuracy"]),
        ("infogan", ["code_purity", "code_to_class", "code_confusion"]),
        ("sgan", ["test_accuracy", "baseline_test_accuracy", "labelled_images"]),
    ],
)
def test_evaluate_path_writes_metrics_into_card(env, family, specific):
    folder = env["runs"] / family
    returned = evaluate_path(folder, samples=SAMPLES, data_root=str(env["mnist"]), reference_root=env["reference"])
    card = read_card(folder)
    assert card.metrics == json.loads(json.dumps(returned)), "the card holds what evaluate_path returned"
    check_common(card.metrics)
    for key in specific:
        assert key in card.metrics, f"{family} must report {key}"
    assert not any(k in card.metrics for k in {"conditional_accuracy", "code_purity", "test_accuracy"} - set(specific))
    if family == "cgan":
        assert 0 <= card.metrics["conditional_accuracy"] <= 1
    if family == "infogan":
        assert 0.1 <= card.metrics["code_purity"] <= 1
        assert sorted(card.metrics["code_to_class"]) == [str(i) for i in range(10)]  # JSON keys are strings
    if family == "sgan":
        assert 0 <= card.metrics["test_accuracy"] <= 1 and 0 <= card.metrics["baseline_test_accuracy"] <= 1
        assert card.metrics["labelled_images"] == 50
    # the rest of the card is untouched
    assert card.training["status"] == "finished" and len(card.snapshots) == 2
    assert not list(folder.glob("*.tmp"))


def test_evaluate_is_reproducible_and_uses_card_dataset_root(env):
    """Without --data-root the run's own dataset root (in its card) is used; the figures are seeded."""
    folder = env["runs"] / "dcgan"
    first = evaluate_path(folder, samples=SAMPLES, data_root=str(env["mnist"]), reference_root=env["reference"])
    gevaluate.RealStats._cache.clear()
    second = evaluate_path(folder, samples=SAMPLES, reference_root=env["reference"])
    for key in ("classifier_fid", "classifier_fid_floor", "class_histogram", "coverage_entropy_ratio"):
        assert first[key] == second[key], key


def test_evaluate_snapshots(env):
    folder = env["runs"] / "cgan"
    evaluate_path(folder, samples=SAMPLES, snapshots=True, snapshot_samples=SAMPLES, data_root=str(env["mnist"]),
                  reference_root=env["reference"])
    card = read_card(folder)
    assert [s["step"] for s in card.snapshots] == [1, 2]
    for snap in card.snapshots:
        assert "classifier_fid" in snap["metrics"] and "conditional_accuracy" in snap["metrics"]
    assert card.metrics["command"].endswith("--snapshots")


def test_sgan_snapshots_keep_their_own_classifier_accuracy(env):
    """Only the final classifier ships: a snapshot's test accuracy is the one measured in training, never the
    final classifier's figure written under every step."""
    folder = env["runs"] / "sgan"
    card = read_card(folder)
    card.snapshots[0]["metrics"] = {"test_accuracy": 0.123}
    card.save(folder)
    evaluate_path(folder, samples=SAMPLES, snapshots=True, snapshot_samples=SAMPLES, data_root=str(env["mnist"]),
                  reference_root=env["reference"])
    card = read_card(folder)
    assert card.snapshots[0]["metrics"]["test_accuracy"] == 0.123
    assert "classifier_fid" in card.snapshots[0]["metrics"] and "test_accuracy" in card.metrics


def test_evaluate_skips_snapshots_whose_weights_were_not_published(env, tmp_path):
    """A published folder keeps every grid but only some snapshot weights: the others keep the figures measured
    while their weights existed, rather than getting the final generator's figures under their step."""
    from ganmodels.publish import publish

    folder = publish(env["runs"] / "cgan", tmp_path, keep=1)
    assert [s["weights"] is None for s in read_card(folder).snapshots] == [True, False]
    card = read_card(folder)
    card.snapshots[0]["metrics"] = {"test_accuracy": 0.5}  # as measured during training
    card.snapshots[1]["metrics"] = {}
    card.save(folder)
    evaluate_path(folder, samples=SAMPLES, snapshots=True, snapshot_samples=SAMPLES, data_root=str(env["mnist"]),
                  reference_root=env["reference"])
    dropped, final = read_card(folder).snapshots
    assert dropped["metrics"] == {"test_accuracy": 0.5}
    assert "classifier_fid" in final["metrics"]


def test_evaluate_cli_names_a_missing_snapshot_file_and_leaves_the_card_alone(env, tmp_path):
    """A run folder thinned by hand still lists a snapshot whose file is gone: one line naming it, no traceback."""
    from ganmodels.publish import publish

    folder = publish(env["runs"] / "cgan", tmp_path, keep=2)
    missing = folder / read_card(folder).snapshots[0]["weights"]
    missing.unlink()
    before = (folder / "card.json").read_text()
    with pytest.raises(SystemExit, match=rf"evaluate: weights file not found: .*{missing.name}"):
        gevaluate.main([str(folder), "--snapshots", "--samples", str(SAMPLES), "--snapshot-samples", str(SAMPLES),
                        "--data-root", str(env["mnist"]), "--reference-root", str(env["reference"])])
    assert (folder / "card.json").read_text() == before


def test_prune_thins_snapshot_weights_but_keeps_grids_and_figures(env, tmp_path):
    from ganmodels.publish import prune, publish

    folder = publish(env["runs"] / "cgan", tmp_path, keep=2)
    card = read_card(folder)
    card.snapshots[0]["metrics"] = {"classifier_fid": 1.5}
    card.save(folder)
    first = folder / card.snapshots[0]["weights"]
    assert first.is_file()
    assert prune(folder, 1) == [card.snapshots[0]["step"]]
    card = read_card(folder)
    assert not first.exists() and card.snapshots[0]["weights"] is None
    assert card.snapshots[0]["metrics"] == {"classifier_fid": 1.5} and (folder / card.snapshots[0]["grid"]).is_file()
    assert card.snapshots[-1]["weights"] == card.weights and (folder / card.weights).is_file()
    assert prune(folder, 1) == []


def test_evaluate_default_reference_dir_can_be_redirected(env, monkeypatch):
    """load_reference reads REFERENCE_DIR when called, so tools and tests can point it elsewhere."""
    monkeypatch.setattr(gclassifier, "REFERENCE_DIR", env["reference"])
    metrics = evaluate_path(env["runs"] / "dcgan", samples=SAMPLES, data_root=str(env["mnist"]))
    check_common(metrics)
    monkeypatch.setattr(gclassifier, "REFERENCE_DIR", env["reference"] / "absent")
    with pytest.raises(FileNotFoundError, match="no reference classifier for 'mnist'"):
        evaluate_path(env["runs"] / "dcgan", samples=SAMPLES, data_root=str(env["mnist"]))


def test_evaluate_cli(env, capsys):
    folder = env["runs"] / "infogan"
    assert gevaluate.main([str(folder), "--samples", str(SAMPLES), "--data-root", str(env["mnist"]),
                           "--reference-root", str(env["reference"])]) == 0
    out = capsys.readouterr().out
    assert "classifier_fid" in out and "code_confusion" not in out
    assert "code_purity" in read_card(folder).metrics


def test_evaluate_translation(env):
    folder = env["runs"] / "cyclegan"
    metrics = evaluate_path(folder, data_root=str(env["unpaired"]), reference_root=env["reference"])
    assert metrics["test_images"] == {"a": 6, "b": 6}
    for size in (32, 256):
        for direction in ("a2b", "b2a"):
            assert 0 <= metrics[f"target_rate_{direction}_{size}px"] <= 1
            assert 0 <= metrics[f"source_rate_before_{direction}_{size}px"] <= 1
            assert 0 <= metrics[f"cycle_l1_{direction}_{size}px"] <= 2
        # above the training size also as the app translates (scale blend); at it the two are one translation
        assert 0 <= metrics[f"target_rate_{direction}_256px_blend"] <= 1
        assert 0 <= metrics[f"cycle_l1_{direction}_256px_blend"] <= 2
        assert f"target_rate_{direction}_32px_blend" not in metrics
    assert "target_rate_a2b_32px" in read_card(folder).metrics
    # snapshots are measured at the training size only; the final generator at both
    evaluate_path(folder, snapshots=True, data_root=str(env["unpaired"]), reference_root=env["reference"])
    card = read_card(folder)
    assert "target_rate_a2b_256px" in card.metrics
    for snap in card.snapshots:
        assert "target_rate_a2b_32px" in snap["metrics"] and "target_rate_a2b_256px" not in snap["metrics"]


def test_translation_scales_script_prints_both_ways_above_the_training_size(env, capsys):
    """scripts/translation_scales.py, behind the CycleGAN figures at several photo sides
    (docs/models/cyclegan-horse2zebra.md)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("translation_scales", REPO / "scripts" / "translation_scales.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folder = env["runs"] / "cyclegan"
    assert script.main([str(folder), "--sizes", "32", "64", "--data-root", str(env["unpaired"]),
                        "--reference-root", str(env["reference"])]) == 0
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines() if " px |" in line}
    assert set(rows) == {"32 px", "64 px"}
    assert rows["32 px"].count("direct") == 0  # the training size: one translation
    assert rows["64 px"].count("direct") == 4 and rows["64 px"].count("blend") == 4  # rate and L1, both directions
    measured = gevaluate.translation_metrics(load_model(folder, device="cpu"), [64], str(env["unpaired"]), env["reference"])
    assert f"{measured['target_rate_a2b_64px']} direct, {measured['target_rate_a2b_64px_blend']} blend" in rows["64 px"]


# ================================ the shipped reference classifiers (where present) ==========================


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist", "horse2zebra"])
def test_shipped_reference_classifier_matches_its_card(dataset, tmp_path, monkeypatch):
    from ganmodels.classifier import DOMAIN_SIZE, REFERENCE_DIR
    from ganmodels.data import default_root, load_labelled, load_unpaired

    if not (REFERENCE_DIR / dataset / "card.json").is_file():
        pytest.skip(f"no shipped reference classifier for {dataset} in {REFERENCE_DIR} yet")
    root = default_root(dataset)
    if not root.is_dir():
        pytest.skip(f"{dataset} data is not available at {root}")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    ref = load_reference(dataset)
    if dataset == "horse2zebra":
        a, b = load_unpaired(root, DOMAIN_SIZE + 8, "test", limit=60)
        x = torch.cat([a, b])[..., 4 : 4 + DOMAIN_SIZE, 4 : 4 + DOMAIN_SIZE]
        y = torch.cat([torch.zeros(len(a), dtype=torch.long), torch.ones(len(b), dtype=torch.long)])
    else:
        x, y = load_labelled(dataset, root, "test")
        x, y = x[:2000], y[:2000]
    _, preds = ref.features_and_predictions(x)
    accuracy = (preds == y).float().mean().item()
    assert accuracy >= ref.card["metrics"]["test_accuracy"] - 0.08, (accuracy, ref.card["metrics"])


# ================================ the shipped checkpoints reproduce their cards ==========================

SHIPPED_MODELS = [p for p in list_checkpoints(REPO / "checkpoints") if p.is_dir()]
# the figures each bar of issue #4 is judged by; anything else in a card is context
BAR_METRICS = ["classifier_fid", "coverage_entropy_ratio", "conditional_accuracy", "code_purity", "test_accuracy",
               "baseline_test_accuracy", "target_rate_a2b_256px", "target_rate_b2a_256px", "target_rate_a2b_256px_blend",
               "target_rate_b2a_256px_blend"]


@pytest.mark.parametrize("folder", SHIPPED_MODELS or [None], ids=[p.name for p in SHIPPED_MODELS] or ["none"])
def test_shipped_card_metrics_reproduce(folder, tmp_path, monkeypatch):
    """`python -m ganmodels.evaluate checkpoints/<id>` gives the card's figures again (seeded: equal up to float noise)."""
    if folder is None:
        pytest.skip("checkpoints/ holds no models yet")
    card = read_card(folder)
    root = Path(card.dataset.get("root") or default_root(card.dataset["name"]))
    if not root.is_absolute():
        root = REPO / root
    if not root.is_dir():
        pytest.skip(f"{card.dataset['name']} data is not available at {root}")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    measured = gevaluate.evaluate_model(load_model(folder, device="cpu"), samples=card.metrics.get("samples", 10000))
    compared = [k for k in BAR_METRICS if k in card.metrics]
    assert compared, f"{folder.name}'s card has none of the figures its bar is judged by"
    for key in compared:
        assert measured[key] == pytest.approx(card.metrics[key], rel=0.02, abs=0.005), key


def test_fid_anatomy_script_measures_the_metric_and_every_shipped_model(tmp_path, monkeypatch, capsys):
    """scripts/fid_anatomy.py, behind the note's account of the FID bars: a row per perturbation of the real test
    images (more noise, more distance) and one per shipped MNIST latent model, with its readable share, the FID
    left without its unreadable samples and its within-class spread relative to the real digits'."""
    import importlib.util

    if not default_root("mnist").is_dir():
        pytest.skip(f"mnist data is not available at {default_root('mnist')}")
    shipped = [read_card(p) for p in SHIPPED_MODELS]
    mnist_models = [c.id for c in shipped if c.dataset.get("name") == "mnist" and "z_dim" in c.arch]
    if not mnist_models:
        pytest.skip("no shipped MNIST latent model")
    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("fid_anatomy", REPO / "scripts" / "fid_anatomy.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--samples", "300"]) == 0
    rows = {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in capsys.readouterr().out.splitlines()
                                               if line.startswith("| ") and "---" not in line)}
    assert float(rows["real + N(0, 0.05) noise"][0]) > float(rows["real + N(0, 0.02) noise"][0]) > 0
    for name in mnist_models + ["real test images (the reference)"]:
        share = float(rows[name][3].rstrip("%"))
        assert 0 <= share <= 100, (name, rows[name])
    reference = rows["real test images (the reference)"]
    assert reference[:3] == ["", "", ""], "the reference is not compared with itself"
    assert reference[4] == "1.00x", "within-class spread is relative to the real images'"
    for name in mnist_models:
        fid_x, confident_x, spread = (float(rows[name][i].rstrip("x")) for i in (1, 2, 4))
        assert fid_x > 0 and confident_x > 0 and spread > 0, (name, rows[name])


def test_publish_stores_photo_grids_as_jpeg_and_digit_grids_as_png(env, tmp_path):
    from ganmodels.publish import publish

    photos = read_card(publish(env["runs"] / "cyclegan", tmp_path, keep=1))
    digits = read_card(publish(env["runs"] / "dcgan", tmp_path, keep=1))
    for card, suffix, fmt in ((photos, ".jpg", "JPEG"), (digits, ".png", "PNG")):
        folder = tmp_path / card.id
        assert card.snapshots and all(s["grid"].endswith(suffix) for s in card.snapshots)
        for snap in card.snapshots:
            with Image.open(folder / snap["grid"]) as img:
                assert img.format == fmt
        assert not list((folder / "grids").glob("*.png" if suffix == ".jpg" else "*.jpg")), "no stray copies"
    assert (tmp_path / digits.id / "fixed_inputs.safetensors").is_file(), "latent models ship the noise of their grids"
    assert not (tmp_path / photos.id / "fixed_inputs.safetensors").exists(), "a translator's inputs are dataset photos"


def test_publish_description_replaces_the_run_s_family_summary(env, tmp_path, capsys):
    from ganmodels.publish import main
    from ganmodels.registry import get_family

    run = env["runs"] / "dcgan"
    assert read_card(run).description == get_family("dcgan").summary, "a run's card names only its family"
    main([str(run), "--dest", str(tmp_path / "plain"), "--keep", "1"])
    assert read_card(tmp_path / "plain" / "dcgan").description == get_family("dcgan").summary
    recipe = "DCGAN on MNIST, G rate 1e-3 against D 2e-4, chosen on training-image FID."
    main([str(run), "--dest", str(tmp_path / "described"), "--keep", "1", "--description", f"  {recipe}\n"])
    assert read_card(tmp_path / "described" / "dcgan").description == recipe
    with pytest.raises(SystemExit, match="description is empty"):
        main([str(run), "--dest", str(tmp_path / "empty"), "--keep", "1", "--description", "  "])
    assert not (tmp_path / "empty").exists(), "a refused publish writes nothing"


def test_photo_grids_as_jpeg_keeps_the_picture(tmp_path):
    from types import SimpleNamespace

    from ganmodels.publish import photo_grids_as_jpeg

    (tmp_path / "grids").mkdir()
    yy, xx = np.mgrid[0:120, 0:160]
    photo = np.stack([xx * 1.5, yy * 2.0, (xx + yy) * 0.9], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "grids" / "step_0000010.png")
    card = SimpleNamespace(snapshots=[{"step": 10, "grid": "grids/step_0000010.png"}, {"step": 20, "grid": None}])
    photo_grids_as_jpeg(tmp_path, card)
    assert card.snapshots == [{"step": 10, "grid": "grids/step_0000010.jpg"}, {"step": 20, "grid": None}]
    assert not (tmp_path / "grids" / "step_0000010.png").exists()
    with Image.open(tmp_path / "grids" / "step_0000010.jpg") as jpeg:
        assert jpeg.format == "JPEG" and jpeg.size == (160, 120)
        assert np.abs(np.asarray(jpeg, dtype=np.int16) - photo).mean() < 2, "re-encoded, not a different picture"


def test_publish_at_a_step_ships_that_snapshot_and_the_history_up_to_it(env, tmp_path):
    from safetensors.torch import load_file

    from ganmodels.publish import main as publish_main

    run = tmp_path / "run"
    shutil.copytree(env["runs"] / "dcgan", run)
    run_card = read_card(run)
    assert [s["step"] for s in run_card.snapshots] == [1, 2]
    run_card.metrics = {"classifier_fid": 1.0}  # the run's last generator's figures
    run_card.save(run)
    assert publish_main([str(run), "--dest", str(tmp_path), "--id", "cut", "--step", "1", "--keep", "3"]) == 0
    folder = tmp_path / "cut"
    card = read_card(folder)
    assert card.metrics == {}, "the run's figures were its last generator's, not the step-1 one's"
    assert [s["step"] for s in card.snapshots] == [1] and card.snapshots[0]["weights"] == card.weights
    shipped, at_step_1 = load_file(str(folder / card.weights)), load_file(str(run / run_card.snapshots[0]["weights"]))
    assert shipped.keys() == at_step_1.keys() and all(torch.equal(shipped[k], at_step_1[k]) for k in shipped)
    assert not all(torch.equal(shipped[k], load_file(str(run / run_card.weights))[k]) for k in shipped), "not the final one"
    assert sorted(p.name for p in (folder / "grids").iterdir()) == ["step_0000001.png"]
    rows = (folder / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1"]
    assert card.training["steps_done"] == 1 and card.training["published_step"]["run_steps"] == 2
    assert card.training["status"] == "the step-1 snapshot of a 2-step run"
    assert card.training["seconds"] <= card.training["published_step"]["run_seconds"]
    model = load_model(folder, device="cpu")
    assert model.generate(model.latents(seed=0, n=2)).shape == (2, 1, 28, 28)


def test_publish_with_history_from_ships_the_earlier_checkpoint_then_the_run(env, tmp_path):
    """A run started from a published checkpoint (--init-from) ships with that checkpoint's history before its own,
    its steps counted on, and replaces it in place when published under the same id."""
    from safetensors.torch import load_file

    from ganmodels.publish import main as publish_main

    dest = tmp_path / "checkpoints"
    assert publish_main([str(env["runs"] / "dcgan"), "--dest", str(dest), "--id", "digits", "--keep", "2"]) == 0
    earlier = read_card(dest / "digits")
    earlier_final = load_file(str(dest / "digits" / earlier.weights))
    earlier_losses = (dest / "digits" / "losses.csv").read_text().splitlines()
    assert gtrain.main(["dcgan", "--init-from", str(dest / "digits"), "--steps", "3", "--snapshot-every", "1",
                        "--runs-dir", str(tmp_path), "--name", "restart", "--no-progress", "--data-root", str(env["mnist"]),
                        "--batch-size", "16"]) == 0
    run_card = read_card(tmp_path / "restart")
    assert publish_main([str(tmp_path / "restart"), "--dest", str(dest), "--id", "digits", "--keep", "4",
                         "--history-from", str(dest / "digits")]) == 0
    folder = dest / "digits"
    card = read_card(folder)
    assert [s["step"] for s in card.snapshots] == [1, 2, 3, 4, 5]
    assert card.training["steps_done"] == card.training["total_steps"] == 5 and card.training["status"] == "finished"
    assert card.training["seconds"] == pytest.approx(earlier.training["seconds"] + run_card.training["seconds"], abs=0.2)
    assert card.training["history_from"]["id"] == "digits" and card.training["history_from"]["steps"] == 2
    assert card.training["history_from"]["training"]["command"] == earlier.training["command"]
    epochs = [s["epoch"] for s in card.snapshots]
    assert epochs == sorted(epochs) and epochs[2] > epochs[1]
    grids = [s["grid"] for s in card.snapshots]
    assert grids == [f"grids/step_{n:07d}.png" for n in range(1, 6)] and all((folder / g).is_file() for g in grids)
    assert sorted(p.name for p in (folder / "grids").iterdir()) == [Path(g).name for g in grids]
    # four weights over the whole history, the run's final generator the shipped one, the earlier final in float16
    with_weights = [s for s in card.snapshots if s["weights"]]
    assert len(with_weights) == 4 and card.snapshots[-1]["weights"] == card.weights
    assert sorted(p.name for p in (folder / "snapshots").iterdir()) == sorted(
        Path(s["weights"]).name for s in with_weights[:-1])
    at_step_2 = next(s for s in card.snapshots if s["step"] == 2)
    assert at_step_2["weights"] == "snapshots/step_0000002.safetensors"
    stored = load_file(str(folder / at_step_2["weights"]))
    assert all(t.dtype == torch.float16 for t in stored.values() if t.is_floating_point())
    assert all(torch.allclose(stored[k].float(), earlier_final[k].float(), atol=1e-2) for k in earlier_final)
    shipped, run_final = load_file(str(folder / card.weights)), load_file(str(tmp_path / "restart" / run_card.weights))
    assert all(torch.equal(shipped[k], run_final[k]) for k in shipped)
    rows = (folder / "losses.csv").read_text().splitlines()
    assert rows[: len(earlier_losses)] == earlier_losses
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5]
    model = load_model(folder, device="cpu")
    assert model.generate(model.latents(seed=0, n=2)).shape == (2, 1, 28, 28)


def test_publish_with_history_from_refuses_a_checkpoint_the_run_did_not_start_from(env, tmp_path):
    from ganmodels.publish import main as publish_main

    dest = tmp_path / "checkpoints"
    assert publish_main([str(env["runs"] / "dcgan"), "--dest", str(dest), "--id", "digits"]) == 0
    before = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    with pytest.raises(SystemExit, match="did not start from a checkpoint"):
        publish_main([str(env["runs"] / "dcgan"), "--dest", str(dest), "--id", "again", "--history-from", str(dest / "digits")])
    with pytest.raises(SystemExit, match="no model card"):
        publish_main([str(env["runs"] / "dcgan"), "--dest", str(dest), "--history-from", str(tmp_path / "missing")])
    assert gtrain.main(["dcgan", "--init-from", str(dest / "digits"), "--steps", "1", "--runs-dir", str(tmp_path),
                        "--name", "restart", "--no-progress", "--data-root", str(env["mnist"]), "--batch-size", "16"]) == 0
    with pytest.raises(SystemExit, match="started from digits at step 2, but .* holds cgan at step 2"):
        publish_main([str(tmp_path / "restart"), "--dest", str(dest), "--history-from", str(env["runs"] / "cgan")])
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == before, "a refused publish writes nothing"
    (dest / "digits" / "losses.csv").write_text("step,loss\n1,0.5\n")
    with pytest.raises(SystemExit, match="losses.csv is not a loss log: its columns are step,loss, not step,epoch"):
        publish_main([str(tmp_path / "restart"), "--dest", str(dest), "--id", "digits", "--history-from", str(dest / "digits")])
    assert sorted(p.name for p in dest.iterdir()) == ["digits"], "no staging folder is left behind"
    assert read_card(dest / "digits").training["steps_done"] == 2, "the checkpoint it would have replaced is untouched"


@pytest.mark.parametrize("earlier_has_r1", [False, True])
def test_prepended_loss_logs_keep_every_value_under_its_own_column(earlier_has_r1, tmp_path):
    """A history whose runs logged different columns (one added the R1 penalty) merges under the union of them."""
    from ganmodels.publish import prepend_losses

    with_r1, without = ["step", "epoch", "d_total", "g", "r1"], ["step", "epoch", "d_total", "g"]
    earlier, losses = tmp_path / "earlier.csv", tmp_path / "losses.csv"
    earlier.write_text("\n".join([",".join(with_r1 if earlier_has_r1 else without), "1,0.5,1.2,0.9" + (",0.7" if earlier_has_r1 else ""),
                                  "2,1.0,1.1,0.8" + (",0.6" if earlier_has_r1 else "")]) + "\n")
    losses.write_text("\n".join([",".join(without if earlier_has_r1 else with_r1), "1,0.5,1.3,1.0" + ("" if earlier_has_r1 else ",0.4")]) + "\n")
    prepend_losses(earlier, losses, offset=2, epochs=1.0)
    with open(losses, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == with_r1
    assert [(r["step"], r["epoch"], r["d_total"], r["g"]) for r in rows] == [
        ("1", "0.5", "1.2", "0.9"), ("2", "1.0", "1.1", "0.8"), ("3", "1.5", "1.3", "1.0")]
    assert [r["r1"] for r in rows] == (["0.7", "0.6", ""] if earlier_has_r1 else ["", "", "0.4"])


@pytest.mark.parametrize("logs_exist", [False, True])
def test_prepending_two_logs_without_a_row_writes_no_header(logs_exist, tmp_path):
    """Two stretches that logged nothing leave the run's log as it was, never a log that holds a blank header."""
    from ganmodels.publish import prepend_losses

    earlier, losses = tmp_path / "earlier.csv", tmp_path / "losses.csv"
    if logs_exist:
        earlier.write_text("")
        losses.write_text("")
    prepend_losses(earlier, losses, offset=2, epochs=1.0)
    assert (losses.read_text() if logs_exist else losses.exists()) == ("" if logs_exist else False)


def test_publish_at_a_step_refuses_what_it_cannot_cut(env, tmp_path):
    from ganmodels.publish import main as publish_main

    with pytest.raises(SystemExit, match="no snapshot at step 5; its snapshots are at steps 1, 2"):
        publish_main([str(env["runs"] / "dcgan"), "--dest", str(tmp_path), "--step", "5"])
    with pytest.raises(SystemExit, match="publish whole"):
        publish_main([str(env["runs"] / "sgan"), "--dest", str(tmp_path), "--step", "1"])
    assert not list(tmp_path.iterdir()), "a refused publish writes nothing"


def test_average_windows_are_measured_on_training_images_and_recorded_in_the_run(env, tmp_path, capsys):
    from ganmodels.checkpoint import average_weights, load_into

    run = tmp_path / "dcgan"
    shutil.copytree(env["runs"] / "dcgan", run)
    argv = [str(run), "--average-windows", "1", "--samples", str(SAMPLES), "--data-root", str(env["mnist"]),
            "--reference-root", str(env["reference"])]
    assert gevaluate.main(argv) == 0
    assert "best_start" in capsys.readouterr().out
    windows = read_card(run).training["average_windows"]
    assert windows["best_start"] == 1 and list(windows["classifier_fid_vs_train_by_start"]) == ["1"]
    assert "training images (not the test set)" in windows["measured"]
    assert windows["command"].endswith(f"--average-windows 1 --samples {SAMPLES}")
    # the figure is the mean generator's FID against training images, not its test FID
    model = load_model(run, device="cpu")
    load_into(model.generator, average_weights([run / s["weights"] for s in read_card(run).snapshots]), "mean")
    against_train = gevaluate.training_image_fid(model, SAMPLES, str(env["mnist"]), env["reference"])
    assert windows["classifier_fid_vs_train_by_start"]["1"] == round(against_train, 4)
    test_fid = gevaluate.evaluate_model(model, SAMPLES, str(env["mnist"]), env["reference"])["classifier_fid"]
    assert round(against_train, 4) != test_fid
    with pytest.raises(SystemExit, match="no snapshot at step 3; its snapshots are at steps 1, 2"):
        gevaluate.main([*argv[:2], "3", *argv[3:]])
    with pytest.raises(SystemExit, match="is a translator"):
        gevaluate.main([str(env["runs"] / "cyclegan"), "--average-windows", "1"])


def test_publish_average_from_ships_the_mean_of_the_window_and_keeps_the_run_s_own_generators(env, tmp_path):
    from safetensors.torch import load_file

    from ganmodels.checkpoint import average_weights, read_weights
    from ui.comparison import compare_entries
    from ganmodels.publish import main as publish_main

    run = tmp_path / "run"
    shutil.copytree(env["runs"] / "dcgan", run)
    run_card = read_card(run)
    run_card.metrics = {"classifier_fid": 1.0}  # the run's last generator's figures
    run_card.save(run)
    assert publish_main([str(run), "--dest", str(tmp_path), "--id", "mean", "--average-from", "1", "--keep", "3"]) == 0
    folder = tmp_path / "mean"
    card = read_card(folder)
    assert card.training["weights_average"]["snapshot_steps"] == [1, 2]
    assert (card.training["weights_average"]["from_step"], card.training["weights_average"]["to_step"]) == (1, 2)
    assert card.training["weights_average"]["command"] == f"python -m ganmodels.publish {run} --id mean --keep 3 --average-from 1"
    expected = average_weights([run / s["weights"] for s in run_card.snapshots])
    shipped = load_file(str(folder / card.weights))
    assert shipped.keys() == expected.keys() and all(torch.equal(shipped[k], expected[k]) for k in shipped)
    final = load_file(str(run / run_card.weights))
    assert not all(torch.equal(shipped[k], final[k]) for k in shipped), "not the run's last generator"
    # the history still ends with the run's own last generator, as a float16 snapshot beside the mean
    last = card.snapshots[-1]
    assert last["step"] == 2 and last["weights"] not in (None, card.weights)
    torch.testing.assert_close(read_weights(folder / last["weights"]), read_weights(run / run_card.snapshots[-1]["weights"]),
                               rtol=1e-3, atol=1e-3)
    assert card.metrics == {}, "the run's figures were its last generator's, not the mean's"
    assert card.samples and all((folder / rel).is_file() for rel in card.samples.values())
    labels = [e.label for e in compare_entries([{"path": str(folder), "id": "mean", "error": None}])]
    assert labels == ["mean @ final (mean of steps 1-2)", "mean @ step 1", "mean @ step 2"]
    model = load_model(folder, device="cpu")
    assert model.generate(model.latents(seed=0, n=2)).shape == (2, 1, 28, 28)


def test_publish_in_float16_halves_the_shipped_nets_and_the_card_says_so(env, tmp_path):
    """A model that must fit the size budget ships its generator (and companions) in half precision: stored as
    float16, loaded as float32, drawing what the float32 publish draws up to half-precision rounding."""
    from safetensors.torch import load_file

    from ganmodels.publish import PublishError, main as publish_main, publish

    run = env["runs"] / "dcgan"
    full = read_card(publish(run, tmp_path / "full", keep=2))
    assert full.precision == "float32" and full.training["snapshot_precision"] == "float16 (final generator float32)"
    run_weights, full_weights = load_file(str(run / read_card(run).weights)), load_file(str(tmp_path / "full" / "dcgan" / full.weights))
    assert all(torch.equal(full_weights[k], run_weights[k]) for k in run_weights), "float32 ships the run's weights exactly"
    assert publish_main([str(run), "--dest", str(tmp_path / "half"), "--keep", "2", "--average-from", "1", "--precision", "float16"]) == 0
    folder = tmp_path / "half" / "dcgan"
    card = read_card(folder)
    assert card.precision == "float16" and card.training["snapshot_precision"] == "float16 (final generator float16)"
    assert card.training["weights_average"]["command"].endswith("--average-from 1 --precision float16")
    stored = load_file(str(folder / card.weights))
    assert {v.dtype for v in stored.values() if v.is_floating_point()} == {torch.float16}
    mean = load_model(folder, device="cpu")
    assert all(p.dtype == torch.float32 for p in mean.generator.parameters())
    full_mean = tmp_path / "full_mean"
    publish(run, full_mean, keep=2, average_from=1)
    z = mean.latents(seed=0, n=4)
    drawn, expected = mean.generate(z), load_model(full_mean / "dcgan", device="cpu").generate(z)
    torch.testing.assert_close(drawn, expected, rtol=0, atol=2e-2)
    assert not torch.equal(drawn, expected), "half-precision storage is not bit-exact (else this check would be vacuous)"

    semi = read_card(publish(env["runs"] / "sgan", tmp_path / "half", keep=1, precision="float16"))
    assert semi.training["companions"] == ["baseline", "classifier"], "SGAN ships its classifiers beside G"
    for name in [semi.weights] + [f"{c}.safetensors" for c in semi.training["companions"]]:
        assert {v.dtype for v in load_file(str(tmp_path / "half" / semi.id / name)).values()
                if v.is_floating_point()} == {torch.float16}, name
    with pytest.raises(PublishError, match="float32 or float16, not bfloat16"):
        publish(run, tmp_path / "refused", precision="bfloat16")
    assert not (tmp_path / "refused").exists(), "a refused publish writes nothing"


def test_publish_average_from_refuses_a_window_it_cannot_average(env, tmp_path):
    from ganmodels.publish import main as publish_main

    run = tmp_path / "run"
    shutil.copytree(env["runs"] / "dcgan", run)
    dest = tmp_path / "dest"
    with pytest.raises(SystemExit, match="step 2 is dcgan's last snapshot: an average needs two or more"):
        publish_main([str(run), "--dest", str(dest), "--average-from", "2"])
    with pytest.raises(SystemExit, match="no snapshot at step 9"):
        publish_main([str(run), "--dest", str(dest), "--average-from", "9"])
    (run / read_card(run).snapshots[0]["weights"]).unlink()
    with pytest.raises(SystemExit, match="weights file not found: .*step_0000001.safetensors"):
        publish_main([str(run), "--dest", str(dest), "--average-from", "1"])
    assert not dest.exists() or not list(dest.iterdir()), "a refused publish writes nothing"
