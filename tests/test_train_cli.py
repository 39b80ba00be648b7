"""The families' declared options: --help, the checks, docs/training.md and the adding-a-family walk-through."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ganmodels.train as gtrain
from ganmodels.cards import read_card
from ganmodels.families.options import Option, OptionError
from ganmodels.registry import FAMILIES, get_family

REPO = Path(__file__).resolve().parent.parent
SHIPPED_CARDS = sorted(p for p in (REPO / "checkpoints").glob("*/card.json") if "family" in json.loads(p.read_text()))


def help_text(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as done:
        gtrain.main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_family(capsys):
    out = help_text(capsys, [])
    for name, family in FAMILIES.items():
        assert re.search(rf"^  {name}\s+{re.escape(family.summary)}$", out, re.M), name
    assert "FAMILY --help" in out


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_help_lists_every_option_with_its_default_and_range(name, capsys):
    out = help_text(capsys, [name])
    family = FAMILIES[name]
    declared = [("--arch", family.arch_declarations()), ("--hp", family.hparam_declarations())]
    for flag, options in declared:
        section = out.split(f"{flag} KEY=VALUE options:")[1]
        for option in options.values():
            line = re.search(rf"^  {option.key}  \((.*)\)$", section, re.M)
            assert line, f"{flag} {option.key} missing from `train {name} --help`"
            assert f"default {option.default_shown()}" in line.group(1) and option.range_text() in line.group(1)
    # the options the issue names by hand are among them, with their defaults
    if name == "dcgan":
        for key, shown in (("ema", "off"), ("r1", "0"), ("decay_start", "off"), ("instance_noise", "0"),
                           ("extra_layers", "0"), ("lr", "0.0002"), ("lr_d", "lr")):
            assert re.search(rf"^  {key}  \([a-z ]+; default {re.escape(shown)};", out, re.M), key
    if name == "wgan_gp":
        assert re.search(r"^  n_critic  \(int; default 5; >= 1\)$", out, re.M)


def test_a_bad_value_is_one_line_naming_the_range_not_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ganmodels.train", "dcgan", "--runs-dir", str(tmp_path), "--data-root",
                           str(tmp_path), "--hp", "ema=1.5"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: --hp ema must be a number with 0 < x < 1 (or 0), not 1.5 (decay of an exponential moving average of "
        "G's weights, which snapshots and the finished model hold (e.g. 0.999); 0 or unset: none)"]
    assert not any(tmp_path.iterdir()), "nothing written for a refused run"


def test_run_create_raises_an_exception_instead_of_exiting(tmp_path):
    cfg = gtrain.TrainConfig(family="dcgan", runs_dir=str(tmp_path), hp_overrides={"n_critic": 5})
    with pytest.raises(gtrain.TrainingSetupError, match="dcgan has no option --hp n_critic"):
        gtrain.Run.create(cfg)
    with pytest.raises(gtrain.TrainingSetupError, match="nothing to resume"):
        gtrain.Run.resume(tmp_path)
    assert issubclass(gtrain.TrainingSetupError, ValueError)


def _outside(option: Option):
    """A value just outside the option's range, or of the wrong type."""
    if option.choices:
        return "not-a-choice"
    if option.type is bool:
        return 1
    if option.type is list:
        return [0] * (option.length or 1) if option.low is not None else "not-a-list"
    below = [option.low if option.low_open else option.low - 1] if option.low is not None else []
    above = [option.high if option.high_open else option.high + 1] if option.high is not None else []
    candidates = [v for v in below + above if v not in option.also_allowed]  # ema's 0 means "off"
    return candidates[0] if candidates else []


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_declarations_drive_defaults_and_checks(name):
    family = FAMILIES[name]
    arch_options, hp_options = family.arch_declarations(), family.hparam_declarations()
    # default_arch / default_hparams are the recorded declarations
    assert family.default_arch(28, 1, 10) == {k: o.default_for(28, 1, 10) for k, o in arch_options.items() if o.recorded}
    assert family.default_hparams() == {k: o.default for k, o in hp_options.items() if o.recorded}
    assert family.known_keys() == (set(arch_options), set(hp_options))
    for flag, options in (("--arch", arch_options), ("--hp", hp_options)):
        for option in options.values():
            if option.fixed:
                with pytest.raises(OptionError, match=f"give {option.key} with {option.set_by}"):
                    family.check_options({option.key: 1} if flag == "--arch" else {}, {option.key: 1} if flag == "--hp" else {})
                continue
            given = {option.key: option.default_for(28, 1, 10)}
            if given[option.key] is not None:  # the default itself is allowed
                family.check_options(given if flag == "--arch" else {}, given if flag == "--hp" else {})
            bad = {option.key: _outside(option)}
            with pytest.raises(OptionError, match=rf"^{flag} {option.key} must be {re.escape(option.describe())}, not "):
                family.check_options(bad if flag == "--arch" else {}, bad if flag == "--hp" else {})
    with pytest.raises(OptionError, match=rf"{name} has no option --hp no_such_key"):
        family.check_options({}, {"no_such_key": 1})


def test_numbers_are_checked_at_their_bounds():
    ema = get_family("dcgan").hparam_declarations()["ema"]
    for ok in (0, 0.5, 0.999):
        ema.check(ok)
    for bad in (1, 1.0, -0.1, True, "0.9", float("nan")):
        with pytest.raises(OptionError):
            ema.check(bad)
    scale_range = get_family("cyclegan").hparam_declarations()["scale_range"]
    scale_range.check([128, 288])
    for bad in ([128], [128, 288.5], [0, 64], "128,288"):
        with pytest.raises(OptionError, match="scale_range must be a list of 2 whole numbers >= 1"):
            scale_range.check(bad)


@pytest.mark.parametrize("card_path", SHIPPED_CARDS, ids=lambda p: p.parent.name)
def test_shipped_cards_validate_against_the_declarations(card_path):
    card = read_card(card_path)
    family = get_family(card.family)
    arch_options, hp_options = family.arch_declarations(), family.hparam_declarations()
    assert set(card.arch) <= set(arch_options), set(card.arch) - set(arch_options)
    assert set(card.training["hparams"]) <= set(hp_options), set(card.training["hparams"]) - set(hp_options)
    for key, value in card.arch.items():
        arch_options[key].check(value, "--arch")
    family.check_hparam_values(card.training["hparams"])


def test_docs_training_md_is_generated_from_the_declarations():
    committed = (REPO / "docs" / "training.md").read_text()
    assert committed == gtrain.training_doc(), "regenerate: python -m ganmodels.train --options-markdown > docs/training.md"
    for name, family in FAMILIES.items():
        assert f"## {name}" in committed
        for key in (*family.arch_declarations(), *family.hparam_declarations()):
            assert f"| `{key}` |" in committed


def test_options_markdown_flag_prints_the_doc(capsys):
    assert gtrain.main(["--options-markdown"]) == 0
    assert capsys.readouterr().out == gtrain.training_doc()


def test_adding_a_family_walk_through_trains(tmp_path, tiny_mnist, monkeypatch):
    """The module in docs/adding-a-family.md is real: registered as the page says, it trains and resumes."""
    doc = (REPO / "docs" / "adding-a-family.md").read_text()
    source = re.search(r"```python\n(\"\"\"Least-squares GAN.*?)```", doc, re.S).group(1)
    namespace: dict = {"__name__": "lsgan_from_docs"}
    exec(compile(source, "docs/adding-a-family.md", "exec"), namespace)
    family = namespace["FAMILY"]
    monkeypatch.setitem(FAMILIES, family.name, family)
    assert family.default_hparams()["fake_target"] == 0.0 and family.default_arch(28, 1, 10)["hidden"] == 256
    argv = ["lsgan", "--data-root", str(tiny_mnist), "--runs-dir", str(tmp_path), "--name", "ls", "--steps", "2",
            "--snapshot-every", "1", "--batch-size", "8", "--max-images", "64", "--arch", "hidden=16", "--no-progress"]
    assert gtrain.main(argv) == 0
    card = read_card(tmp_path / "ls")
    assert card.family == "lsgan" and card.training["status"] == "finished" and card.arch["hidden"] == 16
    with pytest.raises(SystemExit, match=r"--hp fake_target must be a number with -1 <= x <= 0, not 0.5"):
        gtrain.main([*argv[:5], "--name", "bad", "--hp", "fake_target=0.5"])


FAMILY_NAMES = "|".join(sorted(FAMILIES))
# a comparison with a family-name literal: family == "sgan", card.family in ("cgan", "acgan"), "infogan" != x, ...
BRANCH = re.compile(rf"""(==|!=|\bin\b)\s*[\(\[{{]?\s*["']({FAMILY_NAMES})["']|["']({FAMILY_NAMES})["']\s*(==|!=)""")


def test_nothing_outside_families_branches_on_a_family_name():
    """Family knowledge sits in its module: elsewhere code reads the Family's declared attributes."""
    sources = [*(REPO / "ganmodels").rglob("*.py"), *(REPO / "ui").rglob("*.py"), *(REPO / "pages").rglob("*.py"),
               REPO / "app.py"]
    found = []
    for path in sources:
        if (REPO / "ganmodels" / "families") in path.parents or not path.is_file():
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH.search(line.split("#")[0]):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "family-name branches outside ganmodels/families/:\n" + "\n".join(found)
