"""Cards, safe checkpoint I/O, clear load errors, and foreign (upstream) checkpoints built from ../shared/compat specs."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import COMPAT, REPO, TINY_ARCH
from ganmodels.cards import CARD_NAME, CardError, ModelCard, read_card
from ganmodels.checkpoint import (CheckpointError, average_weights, list_checkpoints, load_model, read_weights, save_model_folder,
                                  save_weights)
from ganmodels.families.cyclegan import ResnetGenerator
from ganmodels.families.dcgan import DCGANGenerator
from ganmodels.registry import FAMILIES


# --- helpers ------------------------------------------------------------------------------------


def tiny_dcgan_card(model_id: str = "tiny-dcgan", **extra) -> ModelCard:
    arch = {**FAMILIES["dcgan"].default_arch(28, 1, 10), **TINY_ARCH["dcgan"], "z_dim": 16}
    return ModelCard(id=model_id, family="dcgan", arch=arch, dataset={"name": "mnist"}, title="Tiny DCGAN", **extra)


def trained_like_dcgan(card: ModelCard, seed: int = 0) -> torch.nn.Module:
    """A DCGAN generator whose BatchNorm buffers moved away from their defaults, as after training."""
    torch.manual_seed(seed)
    G = FAMILIES["dcgan"].build_generator(card.arch).train()
    with torch.no_grad():
        for _ in range(3):
            G(torch.randn(8, card.arch["z_dim"]))
    return G.eval()


@pytest.fixture
def dcgan_folder(tmp_path):
    card = tiny_dcgan_card()
    G = trained_like_dcgan(card)
    save_model_folder(tmp_path / card.id, card, G)
    return tmp_path / card.id, G


def edit_card(folder: Path, **changes) -> None:
    data = json.loads((folder / CARD_NAME).read_text())
    for key, value in changes.items():
        if key.startswith("arch."):
            data["arch"][key[5:]] = value
        else:
            data[key] = value
    (folder / CARD_NAME).write_text(json.dumps(data))


# --- cards --------------------------------------------------------------------------------------


def test_card_round_trip(tmp_path):
    card = tiny_dcgan_card(description="d", metrics={"classifier_fid": 1.5}, assumptions=["x"],
                           snapshots=[{"step": 5, "grid": "grids/step_0000005.png"}], training={"steps_done": 5})
    path = card.save(tmp_path)
    assert path == tmp_path / CARD_NAME
    back = read_card(tmp_path)
    assert back == card
    assert read_card(path) == card
    raw = json.loads(path.read_text())
    assert raw["image"] == {"size": 28, "channels": 1}
    assert raw["latent"] == {"z_dim": 16}
    assert not list(tmp_path.glob("*.tmp")), "the atomic write must not leave its temporary file"


def test_card_latent_layout_per_family():
    cgan = ModelCard(id="c", family="cgan", arch={**FAMILIES["cgan"].default_arch(28, 1, 10)})
    assert cgan.latent == {"z_dim": 100, "num_classes": 10}
    info = ModelCard(id="i", family="infogan", arch=FAMILIES["infogan"].default_arch(28, 1, 10))
    assert info.latent["codes"]["categorical"] == 10 and info.latent["codes"]["continuous"] == 2
    assert (info.image_size, info.channels) == (28, 1)


def test_card_ignores_unknown_fields(tmp_path):
    data = {**tiny_dcgan_card().to_dict(), "future_field": 1}
    (tmp_path / CARD_NAME).write_text(json.dumps(data))
    assert read_card(tmp_path).id == "tiny-dcgan"


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps({"family": "dcgan", "arch": {"image_size": 28, "channels": 1}}), "missing required field.*id"),
        (json.dumps({"arch": {"image_size": 28, "channels": 1}}), "missing required field.*id, family"),
        (json.dumps({"id": "x", "family": "dcgan", "arch": {"image_size": 28}}), "image_size and channels"),
        (json.dumps({"id": "x", "family": "dcgan", "arch": [28, 1]}), "image_size and channels"),
    ],
)
def test_card_errors(tmp_path, content, message):
    (tmp_path / CARD_NAME).write_text(content)
    with pytest.raises(CardError, match=message) as info:
        read_card(tmp_path)
    assert str(tmp_path) in str(info.value), "the message must say which card"
    with pytest.raises(CardError):
        load_model(tmp_path, device="cpu")


def test_card_missing(tmp_path):
    with pytest.raises(CardError, match="no model card"):
        read_card(tmp_path)
    with pytest.raises(CardError, match="no model card"):
        load_model(tmp_path, device="cpu")


def test_card_undecodable_bytes(tmp_path):
    (tmp_path / CARD_NAME).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CardError, match="not valid JSON"):
        read_card(tmp_path)


# --- refusing pickles -----------------------------------------------------------------------------


class RunsCode:
    """Unpickling this would run a shell command (the classic malicious-checkpoint payload)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class PlainObject:
    def __init__(self):
        self.weights = torch.zeros(2)


class PickledModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(1, 1)


@pytest.mark.parametrize("payload", ["reduce", "reduce_in_dict", "instance", "module"])
def test_pickled_objects_are_refused_without_running_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    obj = {
        "reduce": lambda: RunsCode(marker),
        "reduce_in_dict": lambda: {"main.0.weight": torch.zeros(1), "x": RunsCode(marker)},
        "instance": PlainObject,
        "module": PickledModule,
    }[payload]()
    path = tmp_path / "latest_net_G.pth"
    torch.save(obj, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError) as info:
        read_weights(path)
    message = str(info.value)
    assert "refused" in message and "latest_net_G.pth" in message
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path, device="cpu")
    assert not marker.exists(), "loading must never execute code from the file"


def test_unreadable_and_unsupported_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a zip or a pickle" * 10)
    with pytest.raises(CheckpointError, match="junk.pth"):
        read_weights(junk)
    bad_st = tmp_path / "broken.safetensors"
    bad_st.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(CheckpointError, match="broken.safetensors: not a valid safetensors"):
        read_weights(bad_st)
    other = tmp_path / "model.bin"
    other.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unsupported weights format"):
        read_weights(other)
    with pytest.raises(CheckpointError, match="not found"):
        read_weights(tmp_path / "absent.safetensors")
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with pytest.raises(CheckpointError, match="no state dict"):
        read_weights(empty)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_model(tmp_path / "nowhere", device="cpu")


def test_unrecognised_foreign_layout(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="mystery.pth: unrecognised layout.*encoder.weight.*card.json"):
        load_model(path, device="cpu")


# --- mismatched cards -------------------------------------------------------------------------------


def test_mismatched_shape_names_file_and_key(dcgan_folder):
    folder, _ = dcgan_folder
    edit_card(folder, **{"arch.ngf": 16})
    with pytest.raises(CheckpointError) as info:
        load_model(folder, device="cpu")
    message = str(info.value)
    assert "generator.safetensors" in message
    assert "'main.0.weight'" in message
    assert "[16, 32, 7, 7]" in message and "[16, 16, 7, 7]" in message


def test_mismatched_layers_names_missing_key(dcgan_folder):
    folder, _ = dcgan_folder
    edit_card(folder, **{"arch.image_size": 64})  # 64 px has two more layers than 28 px
    with pytest.raises(CheckpointError, match=r"generator.safetensors: .*missing key 'main\.\d+\.\w+'"):
        load_model(folder, device="cpu")


def test_channels_mismatch(dcgan_folder):
    folder, _ = dcgan_folder
    edit_card(folder, **{"arch.channels": 3})
    with pytest.raises(CheckpointError, match="key 'main.6.weight' has shape"):
        load_model(folder, device="cpu")


def test_unknown_family(dcgan_folder):
    folder, _ = dcgan_folder
    edit_card(folder, family="stylegan9")
    with pytest.raises(CheckpointError, match="unknown model family 'stylegan9'; known: .*dcgan"):
        load_model(folder, device="cpu")


def test_arch_that_cannot_build(dcgan_folder):
    folder, _ = dcgan_folder
    edit_card(folder, **{"arch.image_size": 48})
    with pytest.raises(CardError, match="cannot build a dcgan generator"):
        load_model(folder, device="cpu")
    data = json.loads((folder / CARD_NAME).read_text())
    data["arch"]["image_size"] = 28
    del data["arch"]["ngf"]
    (folder / CARD_NAME).write_text(json.dumps(data))
    with pytest.raises(CardError, match="ngf"):
        load_model(folder, device="cpu")


def test_missing_weights_file(dcgan_folder):
    folder, _ = dcgan_folder
    (folder / "generator.safetensors").unlink()
    with pytest.raises(CheckpointError, match="names weights 'generator.safetensors' but that file is missing"):
        load_model(folder, device="cpu")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(folder, device="cpu", weights="snapshots/step_0000100.safetensors")


def test_missing_companion(tmp_checkpoints_copy):
    folder = tmp_checkpoints_copy / "tiny-sgan"
    (folder / "baseline.safetensors").unlink()
    with pytest.raises(CheckpointError, match="baseline.safetensors"):
        load_model(folder, device="cpu")


# --- our own folders --------------------------------------------------------------------------------


def test_dcgan_round_trip_bit_exact(dcgan_folder):
    folder, G = dcgan_folder
    model = load_model(folder, device="cpu")
    assert model.card.family == "dcgan" and model.latent_size == 16
    assert model.card.training["companions"] == []
    saved = G.state_dict()
    for key, value in model.generator.state_dict().items():
        assert torch.equal(value, saved[key]), key
    z = model.latents(seed=11, n=6)
    assert torch.equal(z, model.latents(seed=11, n=6))
    assert not torch.equal(z, model.latents(seed=12, n=6))
    with torch.no_grad():
        expected = G(z)
    out = model.generate(z)
    assert out.shape == (6, 1, 28, 28)
    assert torch.equal(out, expected)
    # a second load gives the same images again
    assert torch.equal(load_model(folder, device="cpu").generate(z), expected)
    # batching inside generate() must not change the result, up to float rounding: oneDNN may pick another
    # convolution kernel for another batch size (it does with one intra-op thread), so not bit for bit
    torch.testing.assert_close(model.generate(z, batch_size=4), expected, rtol=0, atol=1e-6)


def test_half_precision_storage(tmp_path):
    card = tiny_dcgan_card(precision="float16")
    G = trained_like_dcgan(card)
    save_model_folder(tmp_path / "half", card, G)
    raw = load_file(str(tmp_path / "half" / "generator.safetensors"))
    assert raw["main.0.weight"].dtype == torch.float16
    assert raw["main.1.num_batches_tracked"].dtype == torch.int64
    full = tmp_path / "full"
    save_model_folder(full, tiny_dcgan_card(), G)
    assert (tmp_path / "half" / "generator.safetensors").stat().st_size < 0.6 * (full / "generator.safetensors").stat().st_size
    model = load_model(tmp_path / "half", device="cpu")
    assert model.card.precision == "float16"
    assert all(p.dtype == torch.float32 for p in model.generator.parameters())
    z = model.latents(3, 8)
    with torch.no_grad():
        expected = G(z)
    out = model.generate(z)
    assert out.dtype == torch.float32
    assert torch.allclose(out, expected, atol=1e-2)
    assert (out - expected).abs().max() > 0, "float16 storage should not be bit-identical (the test would be vacuous)"


def test_snapshot_weights_use_the_same_card(dcgan_folder):
    folder, G = dcgan_folder
    card = read_card(folder)
    other = trained_like_dcgan(card, seed=5)
    save_weights(other, folder / "snapshots" / "step_0000010.safetensors")
    z = torch.randn(2, 16)
    snap = load_model(folder, device="cpu", weights="snapshots/step_0000010.safetensors")
    with torch.no_grad():
        assert torch.equal(snap.generate(z), other(z))
        assert not torch.equal(snap.generate(z), G(z))


def test_save_weights_is_atomic(tmp_path):
    save_weights({"a": torch.ones(3)}, tmp_path / "deep" / "w.safetensors")
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["w.safetensors"]
    assert torch.equal(read_weights(tmp_path / "deep" / "w.safetensors")["a"], torch.ones(3))


def test_save_weights_refuses_a_precision_it_cannot_store(tmp_path):
    """A misspelt precision must not quietly ship full-size float32 weights under a card that says otherwise."""
    with pytest.raises(CheckpointError, match="float32 or float16, not bfloat16"):
        save_weights({"a": torch.ones(3)}, tmp_path / "w.safetensors", precision="bfloat16")
    assert list(tmp_path.iterdir()) == []
    half = save_weights({"a": torch.ones(3)}, tmp_path / "w.safetensors", precision="float16")
    assert load_file(str(half))["a"].dtype == torch.float16


def test_average_weights_is_the_mean_of_the_snapshots(tmp_path):
    """Weights and BatchNorm statistics are the element-wise mean (float16 files included); the batch counter is an
    integer and comes from the last file, not a mean rounded to something no snapshot had."""
    card = tiny_dcgan_card()
    nets = [trained_like_dcgan(card, seed) for seed in (1, 2, 3)]
    paths = [save_weights(G, tmp_path / f"s{i}.safetensors", precision="float16" if i == 1 else "float32")
             for i, G in enumerate(nets)]
    states = [read_weights(p) for p in paths]
    with torch.no_grad():
        nets[2].main[1].num_batches_tracked.fill_(7)
    save_weights(nets[2], paths[2])
    mean = average_weights(paths)
    assert mean.keys() == states[0].keys()
    for k, v in mean.items():
        if v.is_floating_point():
            assert v.dtype == torch.float32
            torch.testing.assert_close(v, (states[0][k] + states[1][k] + states[2][k]) / 3, rtol=0, atol=1e-6)
    assert mean["main.1.num_batches_tracked"].dtype == torch.int64 and int(mean["main.1.num_batches_tracked"]) == 7
    assert not torch.equal(mean["main.0.weight"], states[0]["main.0.weight"])
    G = FAMILIES["dcgan"].build_generator(card.arch)
    G.load_state_dict(mean)  # loads as a net of the same architecture


def test_average_weights_refuses_files_of_different_nets(tmp_path):
    card = tiny_dcgan_card()
    a = save_weights(trained_like_dcgan(card), tmp_path / "a.safetensors")
    wider = save_weights(FAMILIES["dcgan"].build_generator({**card.arch, "ngf": card.arch["ngf"] * 2}), tmp_path / "wide.safetensors")
    other = save_weights({"x": torch.zeros(2)}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match=r"wide.safetensors: key 'main.0.weight' has shape .* a.safetensors has"):
        average_weights([a, wider])
    with pytest.raises(CheckpointError, match="other.safetensors: cannot be averaged with a.safetensors"):
        average_weights([a, other])
    with pytest.raises(CheckpointError, match="not found"):
        average_weights([a, tmp_path / "missing.safetensors"])
    with pytest.raises(CheckpointError, match="no weights files"):
        average_weights([])


def test_card_snapshots_from_names_a_whole_window_or_says_why_not():
    card = tiny_dcgan_card(snapshots=[{"step": s, "weights": w} for s, w in
                                      ((3, "snapshots/c"), (1, "snapshots/a"), (2, None), (4, "generator.safetensors"))])
    assert [s["step"] for s in card.snapshots_from(3)] == [3, 4]
    with pytest.raises(CardError, match="no snapshot at step 5; its snapshots are at steps 1, 2, 3, 4"):
        card.snapshots_from(5)
    with pytest.raises(CardError, match="step 4 is tiny-dcgan's last snapshot"):
        card.snapshots_from(4)
    with pytest.raises(CardError, match="no longer holds the weights of its snapshots at steps 2"):
        card.snapshots_from(1)


@pytest.fixture
def tmp_checkpoints_copy(tiny_checkpoints, tmp_path):
    dest = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, dest)
    return dest


def test_tiny_checkpoints_of_every_family_load(tiny_checkpoints, tmp_path):
    found = list_checkpoints(tiny_checkpoints)
    assert sorted(p.name for p in found) == sorted(f"tiny-{name}" for name in FAMILIES)
    for folder in found:
        model = load_model(folder, device="cpu")
        family = model.family
        assert model.card.id == folder.name
        if family.translator:
            x = torch.rand(1, 3, 32, 32) * 2 - 1
            y = model.translate(x, "a2b")
            assert y.shape == x.shape and y.abs().max() <= 1
            with pytest.raises(TypeError, match="translate"):
                model.generate(torch.zeros(1, 1))
            continue
        z = model.latents(0, 4, psi=0.7)
        assert z.shape == (4, model.latent_size)
        labels = [3] if family.conditional else None
        images = model.generate(z, labels)
        assert images.shape == (4, 1, 28, 28)
        assert images.min() >= -1 and images.max() <= 1
        assert not images.requires_grad
        images.clamp_(-1, 1)  # generated images are ordinary tensors a page may edit in place
        if model.card.family == "sgan":
            assert set(model.companions) == {"classifier", "baseline"}
            assert not model.companions["classifier"].training
            logits = model.companions["classifier"](images)  # e.g. classify generated digits, outside no_grad
            assert logits.shape == (4, 10)
            # a caller that only samples need not read the classifiers, even when their files are gone
            bare = shutil.copytree(folder, tmp_path / "sgan-without-classifiers")
            for name in model.companions:
                (bare / f"{name}.safetensors").unlink()
            assert load_model(bare, "cpu", companions=False).companions == {}
            with pytest.raises(CheckpointError, match="safetensors"):
                load_model(bare, "cpu")


def test_list_checkpoints_includes_loose_foreign_files(tmp_checkpoints_copy):
    torch.save({"a": torch.zeros(1)}, tmp_checkpoints_copy / "horse2zebra.pth")
    (tmp_checkpoints_copy / "notes.txt").write_text("not a model")
    (tmp_checkpoints_copy / "empty-dir").mkdir()
    names = [p.name for p in list_checkpoints(tmp_checkpoints_copy)]
    assert "horse2zebra.pth" in names and "notes.txt" not in names and "empty-dir" not in names
    assert list_checkpoints(tmp_checkpoints_copy / "absent") == []


# --- foreign checkpoints from ../shared/compat ------------------------------------------------------


def compat_spec(name: str) -> dict:
    path = COMPAT / name
    if not path.is_file():
        pytest.skip(f"compat spec {path} is not available (../shared/compat is absent on this machine)")
    return json.loads(path.read_text())


def random_state(pairs, int64_keys=(), seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors with the spec's names and shapes; each key's values depend only on its name."""
    out = {}
    for name, shape in pairs:
        gen = torch.Generator().manual_seed(seed + sum(map(ord, name)) * 7919 + len(name))
        if name in int64_keys:
            out[name] = torch.tensor(42, dtype=torch.int64).reshape(shape)
        elif name.endswith("running_var"):
            out[name] = torch.rand(shape, generator=gen) + 0.5
        elif name.endswith("running_mean"):
            out[name] = torch.randn(shape, generator=gen) * 0.1
        elif len(shape) == 1 and name.endswith(".weight"):  # norm scale
            out[name] = 1 + torch.randn(shape, generator=gen) * 0.1
        else:
            out[name] = torch.randn(shape, generator=gen) * 0.05
    return out


def dropout_layout(state: dict) -> dict:
    """Upstream built with dropout: the second conv of each block moves 5 -> 6, its norm 6 -> 7."""
    renamed = {}
    for k, v in state.items():
        k = k.replace(".conv_block.6.", ".conv_block.7.").replace(".conv_block.5.", ".conv_block.6.")
        renamed[k] = v
    return renamed


@pytest.fixture(scope="module")
def cyclegan_states():
    spec = compat_spec("cyclegan_resnet9_g.json")
    base = random_state(spec["keys"])
    legacy = random_state(spec["legacy_keys"], set(spec["legacy_int64_keys"]))
    for k in base:  # the same weights in every variant; only the extra buffers differ
        legacy[k] = base[k]
    no_counter = {k: v for k, v in legacy.items() if not k.endswith("num_batches_tracked")}
    variants = {
        "48": base,
        "94": no_counter,
        "117": legacy,
        "dropout48": dropout_layout(base),
        "dropout117": dropout_layout(legacy),
    }
    assert len(base) == 48 and len(no_counter) == 94 and len(legacy) == 117
    assert all(legacy[k].dtype == torch.int64 for k in spec["legacy_int64_keys"])
    reference = ResnetGenerator(3, 3, 64, 9).eval()
    reference.model.load_state_dict(
        {k[len("model."):]: v for k, v in base.items()}, strict=True
    )
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = reference(x)
    return spec, variants, x, expected


def test_compat_spec_matches_our_resnet_generator():
    spec = compat_spec("cyclegan_resnet9_g.json")
    ours = {f"model.{k}": list(v.shape) for k, v in ResnetGenerator(3, 3, 64, 9).model.state_dict().items()}
    assert list(ours.items()) == [(k, s) for k, s in spec["keys"]]
    dc = compat_spec("dcgan_netg.json")
    g = DCGANGenerator(100, 3, 64, 64).state_dict()
    assert [(k, list(v.shape)) for k, v in g.items()] == [(k, s) for k, s in dc["keys"]]


@pytest.mark.parametrize("variant", ["48", "94", "117", "dropout48", "dropout117"])
@pytest.mark.parametrize("filename", ["latest_net_G_A.pth", "horse2zebra.pth"])
def test_foreign_cyclegan(tmp_path, cyclegan_states, variant, filename):
    spec, variants, x, expected = cyclegan_states
    path = tmp_path / filename
    torch.save(variants[variant], path)
    model = load_model(path, device="cpu")
    card = model.card
    assert card.family == "cyclegan"
    assert card.arch["n_blocks"] == 9 and card.arch["ngf"] == 64 and card.arch["channels"] == 3
    assert card.arch["directions"] == ["a2b"]
    assert card.weights == filename
    assert model.path == path
    joined = " ".join(card.assumptions)
    assert "9 residual blocks" in joined and "ngf 64" in joined
    assert ("dropout" in joined) == variant.startswith("dropout")
    if filename == "horse2zebra.pth":
        assert card.arch["domains"] == {"a": "horse", "b": "zebra"}
    else:
        assert card.arch["domains"] == {"a": "A", "b": "B"}
    y = model.translate(x, "a2b")
    assert y.shape == (1, 3, 64, 64)
    assert y.min() >= -1 and y.max() <= 1
    assert torch.equal(y, expected), "every key layout must load the same weights into the same places"
    with pytest.raises(KeyError, match="no b2a generator"):
        model.translate(x, "b2a")


def test_foreign_cyclegan_g_b_is_b2a(tmp_path, cyclegan_states):
    _, variants, x, expected = cyclegan_states
    path = tmp_path / "latest_net_G_B.pth"
    torch.save(variants["117"], path)
    model = load_model(path, device="cpu")
    assert model.card.arch["directions"] == ["b2a"]
    assert torch.equal(model.translate(x, "b2a"), expected)


def test_foreign_cyclegan_with_module_prefix_and_wrapper(tmp_path, cyclegan_states):
    _, variants, x, expected = cyclegan_states
    path = tmp_path / "zebra2horse.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in variants["94"].items()}}, path)
    model = load_model(path, device="cpu")
    assert model.card.arch["domains"] == {"a": "zebra", "b": "horse"}
    assert torch.equal(model.translate(x, "a2b"), expected)


@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_user_card_beside_foreign_file(tmp_path, cyclegan_states, direction):
    _, variants, x, expected = cyclegan_states
    folder = tmp_path / "h2z"
    folder.mkdir()
    torch.save(variants["117"], folder / "horse2zebra.pth")
    arch = {**FAMILIES["cyclegan"].default_arch(256, 3, 0), "n_blocks": 9, "directions": [direction],
            "domains": {"a": "horse", "b": "zebra"}}
    ModelCard(id="my-h2z", family="cyclegan", arch=arch, title="My horse to zebra", weights="horse2zebra.pth").save(folder)
    for target in (folder, folder / "horse2zebra.pth", folder / CARD_NAME):
        model = load_model(target, device="cpu")
        assert model.card.title == "My horse to zebra" and model.card.id == "my-h2z"
        assert torch.equal(model.translate(x, direction), expected)
        assert model.card.assumptions == []  # the user's card is taken as is


def test_user_card_with_wrong_block_count_names_key(tmp_path, cyclegan_states):
    _, variants, _, _ = cyclegan_states
    folder = tmp_path / "h2z"
    folder.mkdir()
    torch.save(variants["48"], folder / "horse2zebra.pth")
    arch = {**FAMILIES["cyclegan"].default_arch(256, 3, 0), "n_blocks": 6, "directions": ["a2b"]}
    ModelCard(id="wrong", family="cyclegan", arch=arch, weights="horse2zebra.pth").save(folder)
    with pytest.raises(CheckpointError, match=r"horse2zebra.pth: .*unexpected key 'a2b\.model\.\d+\.conv_block"):
        load_model(folder, device="cpu")


def dcgan_variant(spec: dict, nc: int, counters: bool) -> dict:
    pairs = [(k, [64, nc, 4, 4] if k == "main.12.weight" else s) for k, s in spec["keys"]]
    if not counters:
        pairs = [(k, s) for k, s in pairs if not k.endswith("num_batches_tracked")]
    return random_state(pairs, set(spec["int64_keys"]))


@pytest.mark.parametrize("counters", [True, False], ids=["with_num_batches_tracked", "pre_0.4.1"])
@pytest.mark.parametrize("nc", [3, 1])
def test_foreign_dcgan(tmp_path, nc, counters):
    spec = compat_spec("dcgan_netg.json")
    state = dcgan_variant(spec, nc, counters)
    assert len(state) == (25 if counters else 21)
    path = tmp_path / "netG_epoch_24.pth"
    torch.save(state, path)
    model = load_model(path, device="cpu")
    card = model.card
    assert card.family == "dcgan" and card.id == "netG_epoch_24"
    assert card.arch["z_dim"] == 100 and card.arch["ngf"] == 64
    assert card.arch["channels"] == nc and card.image_size == 64
    assert any("nz 100" in a for a in card.assumptions)
    z = model.latents(seed=1, n=1)
    images = model.generate(z)
    assert images.shape == (1, nc, 64, 64)
    assert images.min() >= -1 and images.max() <= 1
    # upstream's input layout [N, nz, 1, 1] works too, and the result matches a plain strict load
    reference = DCGANGenerator(100, nc, 64, 64).eval()
    reference.load_state_dict(dcgan_variant(spec, nc, True), strict=True)
    with torch.no_grad():
        assert torch.equal(model.generator(z.reshape(1, 100, 1, 1)), reference(z))
    assert torch.equal(images, reference(z).detach())


def test_foreign_dcgan_wrapped(tmp_path):
    spec = compat_spec("dcgan_netg.json")
    state = dcgan_variant(spec, 1, True)
    path = tmp_path / "netG_epoch_3.pt"
    torch.save({"netG": state, "epoch": 3}, path)
    model = load_model(path, device="cpu")
    assert model.card.arch["channels"] == 1


def test_foreign_safetensors(tmp_path):
    spec = compat_spec("dcgan_netg.json")
    path = tmp_path / "netG.safetensors"
    save_file(dcgan_variant(spec, 3, True), str(path))
    model = load_model(path, device="cpu")
    assert model.card.family == "dcgan"
    assert model.generate(model.latents(0, 2)).shape == (2, 3, 64, 64)


# --- the shipped checkpoints (where present) -----------------------------------------------------------

SHIPPED = list_checkpoints(REPO / "checkpoints")


@pytest.mark.parametrize("folder", SHIPPED or [None], ids=[p.name for p in SHIPPED] or ["none"])
def test_shipped_checkpoint_loads_and_samples(folder):
    if folder is None:
        pytest.skip("checkpoints/ holds no models yet (they are trained by scripts/train_shipped.sh)")
    model = load_model(folder, device="cpu")
    card = model.card
    assert card.title and card.dataset.get("name")
    # every shipped card carries the measured figures its bar is judged by (python -m ganmodels.evaluate)
    expected = {"cyclegan": "target_rate_a2b_256px", "sgan": "test_accuracy", "cgan": "conditional_accuracy",
                "acgan": "conditional_accuracy", "infogan": "code_purity"}.get(card.family, "classifier_fid")
    assert isinstance(card.metrics.get(expected), float), f"{folder.name} has no measured {expected}"
    assert card.metrics.get("evaluated") and card.metrics.get("command", "").startswith("python -m ganmodels.evaluate")
    for snap in card.snapshots:
        assert (folder / snap["grid"]).is_file(), snap
    if model.family.translator:
        x = torch.rand(1, card.channels, 64, 64) * 2 - 1
        for direction in card.arch.get("directions", ["a2b", "b2a"]):
            y = model.translate(x, direction)
            assert y.shape == x.shape and y.abs().max() <= 1
        return
    labels = [0] if model.family.conditional else None
    images = model.generate(model.latents(0, 2), labels)
    assert images.shape == (2, card.channels, card.image_size, card.image_size)
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.01


def test_shipped_checkpoints_fit_the_size_budget():
    """The whole checkpoints/ folder stays under 150 MB, so a fresh clone stays quick (issue #4)."""
    total = sum(p.stat().st_size for p in (REPO / "checkpoints").rglob("*") if p.is_file())
    assert total < 150 * 10**6, f"checkpoints/ holds {total / 10**6:.1f} MB"


def test_readme_table_matches_the_shipped_cards():
    """The README's table of bars and measured figures is the one scripts/model_table.py prints from the cards, so
    a model shipped or re-evaluated without updating the README is caught here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_table", REPO / "scripts" / "model_table.py")
    model_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model_table)
    lines = model_table.table_lines()
    if len(lines) == 2:
        pytest.skip("checkpoints/ holds no models yet (they are trained by scripts/train_shipped.sh)")
    readme = (REPO / "README.md").read_text()
    missing = [line for line in lines if line not in readme.splitlines()]
    assert not missing, "README.md's table is out of date; paste `python scripts/model_table.py`:\n" + "\n".join(missing)
    assert "\n".join(lines) in readme


def test_readable_cards_skips_broken_cards_and_loose_files(dcgan_folder):
    from ganmodels.checkpoint import readable_cards

    folder, _ = dcgan_folder
    root = folder.parent
    (root / "broken").mkdir()
    (root / "broken" / CARD_NAME).write_text("{ not json")
    (root / "netG.pth").write_bytes(b"\x80\x02")
    assert [card.id for card in readable_cards(root)] == ["tiny-dcgan"]
    assert readable_cards(root / "absent") == []
