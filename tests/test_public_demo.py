"""Issue 46: the app is safe to open to anonymous visitors. One test (or more) per finding of the review, each
reproducing the attack and checking it is refused with a plain message and no traceback."""
from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit import config as st_config

from conftest import app_page

from ui import new_run, run_launches
from ui.server_limits import LimitError, Limits, check_data_root, check_weight_count

REPO = Path(__file__).resolve().parent.parent
PROGRESS = "pages/3_Training_progress.py"


def page(path: str, **query):
    at = app_page(path, 120)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def assert_clean(at) -> None:
    assert not at.exception, [e.message for e in at.exception]


@pytest.fixture
def runs(tmp_path, tmp_path_factory, tiny_checkpoints, monkeypatch) -> Path:
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("GANSTUDIO_RUNS", str(runs))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    monkeypatch.setenv("GANSTUDIO_DATA_ROOTS", str(tmp_path_factory.getbasetemp()))
    monkeypatch.delenv("GANSTUDIO_MODE", raising=False)
    yield runs
    run_launches.stop_all(wait=30)


def fill_form(at, root: Path, name: str, steps: int = 4, snap: int | None = None, size: int | None = None,
              family: str = "dcgan", dataset: str = "mnist"):
    at.selectbox(key="nr_family").set_value(family)
    at.selectbox(key="nr_dataset").set_value(dataset)
    at.text_input(key="nr_root").set_value(str(root))
    at.number_input(key="nr_steps").set_value(steps)
    if snap is not None:
        at.number_input(key="nr_snap").set_value(snap)
    if size is not None:
        at.number_input(key="nr_size").set_value(size)
    at.checkbox(key="nr_small").check()
    at.text_input(key="nr_name").set_value(name)
    return at.button[0].click().run()


def errors(at) -> list[str]:
    return [e.value for e in at.error]


# --- 1. unlimited training launches ------------------------------------------------------------------

def test_public_mode_turns_launches_off_and_says_how_to_turn_them_on(runs, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_MODE", "public")
    at = page(PROGRESS)
    assert_clean(at)
    assert not [w for w in at.text_input if w.key == "nr_name"], "the launch form is drawn in public mode"
    shown = " ".join(i.value for i in at.info)
    assert "turned off" in shown and "GANSTUDIO_MODE=private" in shown
    assert st_config.get_option("client.showErrorDetails") == "none"
    st_config.set_option("client.showErrorDetails", "full")


def test_a_server_on_a_network_address_is_public_unless_the_operator_opts_in(runs, monkeypatch):
    before = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = page(PROGRESS)
        assert_clean(at)
        assert any("turned off" in i.value for i in at.info)
        monkeypatch.setenv("GANSTUDIO_MODE", "private")
        at = page(PROGRESS)
        assert [w for w in at.text_input if w.key == "nr_name"], "mode=private should give the launch form back"
    finally:
        st_config.set_option("server.address", before)
        st_config.set_option("client.showErrorDetails", "full")


def test_a_mistyped_mode_reads_as_public(runs, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_MODE", "privat")
    at = page(PROGRESS)
    assert any("turned off" in i.value for i in at.info)
    st_config.set_option("client.showErrorDetails", "full")


@pytest.mark.parametrize("steps, snap, words", [
    (30_000, None, "at most 20,000 steps"),
    (100, 1, "at most 20 per run"),
])
def test_steps_and_snapshots_are_capped(runs, tiny_mnist, steps, snap, words):
    at = fill_form(page(PROGRESS), tiny_mnist, "capped", steps=steps, snap=snap)
    assert_clean(at)
    assert any(words in e for e in errors(at)), errors(at)
    assert not (runs / "capped").exists()


def test_one_run_at_a_time_and_a_stop_button_for_its_owner(runs, tiny_mnist):
    at = fill_form(page(PROGRESS), tiny_mnist, "long-one", steps=20_000, snap=1000)
    assert_clean(at)
    assert any("Started 'long-one'" in s.value for s in at.success), errors(at)
    # A second launch, from this session or another, is refused while the first trains.
    other = fill_form(page(PROGRESS), tiny_mnist, "second")
    assert any("at most 1 at once" in e for e in errors(other)), errors(other)
    assert not (runs / "second").exists()
    # Only the session that started it gets the stop button.
    stop_keys = lambda a: [b for b in a.button if b.key and b.key.startswith("stop_")]  # noqa: E731
    assert not stop_keys(other.run())
    at.run()
    assert stop_keys(at), "the owner has no stop button"
    stop_keys(at)[0].click().run()
    assert_clean(at)
    proc_gone = lambda: run_launches.running_count() == 0  # noqa: E731
    end = time.time() + 120
    while not proc_gone() and time.time() < end:
        time.sleep(0.5)
    assert proc_gone(), "the run did not stop"


def test_runs_stop_when_the_server_that_started_them_is_gone(tmp_path, tiny_mnist):
    """A server killed without a chance to stop its runs (SIGKILL): its runs notice and pause, state saved."""
    runs = tmp_path / "runs"
    script = ("import sys, time; from ui.run_launches import start_training; "
              f"p = start_training('dcgan', 'mnist', 100000, {str(runs)!r}, 'orphan', {str(tiny_mnist)!r}, "
              "['--arch', 'ngf=8', '--arch', 'ndf=8', '--snapshot-every', '50000']); print(p.pid, flush=True); time.sleep(600)")
    server = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    child = int(server.stdout.readline())
    try:
        status = runs / "orphan" / "status.json"
        end = time.time() + 180
        while time.time() < end and not (status.is_file() and '"running"' in status.read_text()):
            time.sleep(0.5)
        assert status.is_file(), (runs / "orphan.log").read_text()[-2000:]
        server.kill()
        server.wait()
        end = time.time() + 60
        while time.time() < end and Path(f"/proc/{child}").exists() and "Z" not in _state(child):
            time.sleep(0.5)
        assert not Path(f"/proc/{child}").exists() or "Z" in _state(child), "the run outlived its server"
        assert "paused" in json.loads(status.read_text()), status.read_text()
    finally:
        if server.poll() is None:
            server.kill()
        if Path(f"/proc/{child}").exists():
            os.kill(child, signal.SIGKILL)  # our own grandchild, by its pid


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_the_server_stops_its_runs_on_exit(tmp_path, monkeypatch):
    """stop_all is registered with atexit: every run this process started gets SIGTERM and is waited for."""
    monkeypatch.setattr(run_launches, "start_training",
                        lambda *a, **k: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
    proc = new_run.launch(new_run.TrainingRequest("dcgan", "mnist", 4, "to-stop"), tmp_path, Limits())
    run_launches.stop_all(wait=10)
    assert proc.poll() == -signal.SIGTERM


def test_disk_caps_stop_a_growing_run(tmp_path, monkeypatch):
    monkeypatch.setattr(run_launches, "start_training",
                        lambda *a, **k: subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
    proc = new_run.launch(new_run.TrainingRequest("dcgan", "mnist", 4, "greedy"), tmp_path, Limits())
    (tmp_path / "greedy" / "blob").write_bytes(b"\0" * (2 * 1024 * 1024))
    assert run_launches.enforce_disk(Limits(run_disk_mb=1), tmp_path) == ["greedy"]
    assert proc.wait(timeout=10) == -signal.SIGTERM
    assert "over the 1 MB" in (run_launches.stop_reason(tmp_path / "greedy") or "over the 1 MB")
    # and no launch while the runs folder is over its share
    with pytest.raises(new_run.RunRequestError, match="allows 1 MB for all runs"):
        new_run.launch(new_run.TrainingRequest("dcgan", "mnist", 4, "next"), tmp_path, Limits(all_runs_disk_mb=1))


# --- 2. one submit can exhaust memory --------------------------------------------------------------------

def big_idx_header_only(root: Path, n: int = 60_000) -> Path:
    """IDX files whose headers claim a full-size set (60,000 images): what a memory estimate reads."""
    root.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        with gzip.open(root / f"{prefix}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28))
        with gzip.open(root / f"{prefix}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n))
    return root


def test_an_image_size_that_would_exhaust_memory_is_refused_before_launch(runs, tmp_path):
    root = big_idx_header_only(tmp_path / "fashion")
    at = fill_form(page(PROGRESS), root, "huge", steps=100, size=256, family="mlp", dataset="fashion-mnist")
    assert_clean(at)
    assert any("GB of memory" in e and "px or less fits" in e for e in errors(at)), errors(at)
    assert not (runs / "huge").exists()


def test_an_architecture_over_the_weight_limit_is_refused_without_allocating():
    with pytest.raises(LimitError, match="weights; this server loads at most"):
        check_weight_count("dcgan", {"z_dim": 100, "ngf": 100_000, "image_size": 64, "channels": 3}, "ngf-100000")


# --- 3. two sessions racing for one name ---------------------------------------------------------------

def test_two_launches_of_one_name_at_once_start_exactly_one(tmp_path, monkeypatch):
    started = []

    def fake_start(*args, **kwargs):
        started.append(args)
        return subprocess.Popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(run_launches, "start_training", fake_start)
    barrier, outcomes = threading.Barrier(2), []

    def go():
        barrier.wait()
        try:
            new_run.launch(new_run.TrainingRequest("dcgan", "mnist", 4, "same"), tmp_path)
            outcomes.append("started")
        except new_run.RunRequestError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[0] == "A run named 'same' already exists; pick another name." and "started" in outcomes
    assert len(started) == 1
    run_launches.stop_all(wait=5)


# --- 7. any server path as the data folder ----------------------------------------------------------------

@pytest.mark.parametrize("path", ["~/.ssh", "/etc", "/definitely/not/here", "/work/shared/data/../../../etc"])
def test_data_folders_outside_the_allowed_roots_get_one_answer(runs, path):
    """Existing and missing paths outside the roots get the same words, so the answer tells nothing about them."""
    at = fill_form(page(PROGRESS), Path(path), "peek")
    assert_clean(at)
    assert any("must come from inside a folder this server allows" in e for e in errors(at)), errors(at)
    assert not any("holds no images" in e or "not found" in e for e in errors(at))


def test_a_symlink_inside_a_root_cannot_lead_out(tmp_path):
    root = tmp_path / "allowed"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    with pytest.raises(LimitError):
        check_data_root(str(root / "escape"), Limits(data_roots=(str(root),)))
    check_data_root(str(root), Limits(data_roots=(str(root),)))


# --- memory, as the server (this process, for AppTest) sees it ---------------------------------------------

def _vm(key: str) -> int:
    return int(Path("/proc/self/status").read_text().split(f"{key}:")[1].split()[0]) * 1024


def peak_growth(action) -> int:
    """Bytes the process's peak RSS rose above its RSS before `action` (the kernel's high-water mark is reset)."""
    import gc

    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _vm("VmRSS")
    action()
    return _vm("VmHWM") - before


MB = 1024 * 1024
MEMORY_BAR = 300 * MB


# --- 4. decompression bomb in a link --------------------------------------------------------------------

def test_a_latent_link_that_inflates_to_400_mb_is_refused_in_bounded_memory(tiny_checkpoints, monkeypatch):
    import base64
    import zlib

    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    bomb = base64.urlsafe_b64encode(zlib.compress(b"\0" * 400_000_000, 9)).decode()  # the review's 518 KB query
    at = app_page("pages/1_Latent_explorer.py", 120)
    at.query_params["model"] = "tiny-dcgan"
    at.query_params["z"] = bomb
    grew = peak_growth(at.run)
    assert_clean(at)
    assert any("The latent in this link could not be used" in w.value and "too long" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    assert grew < MEMORY_BAR, f"peak RSS grew {grew / MB:.0f} MB"


# --- 8. a crafted link shows a traceback --------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    {"model": "tiny-cgan", "class": "\u00b2"},  # "²".isdigit() is true, int("²") raises
    {"model": "tiny-cgan", "class": "99999999999999999999"},
    {"model": "tiny-cgan", "class": "-1"},
    {"model": "tiny-dcgan", "seed": "\u00b2"},
    {"model": "tiny-dcgan", "seed": "1" * 5000},
    {"model": "tiny-dcgan", "seed": "-5", "psi": "nan"},
    {"model": "tiny-dcgan", "offsets": "0:1e308,\u00b2:1," + "1:1," * 5000},
    {"model": "tiny-dcgan", "z": "%%%not base64"},
    {"model": "tiny-dcgan", "mode": "\u00b2", "psi": "1e999"},
    {"model": "../../etc/passwd"},
])
def test_crafted_explorer_links_fall_back_without_a_traceback(tiny_checkpoints, monkeypatch, query):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    at = page("pages/1_Latent_explorer.py", **query)
    assert_clean(at)
    assert at.image, "the page drew no picture"


@pytest.mark.parametrize("page_file", ["pages/2_InfoGAN_codes.py", "pages/3_Training_progress.py",
                                       "pages/4_Compare_checkpoints.py", "pages/5_CycleGAN_translate.py",
                                       "pages/6_SGAN_classifier.py", "app.py"])
def test_crafted_links_on_other_pages(runs, page_file):
    at = page(page_file, model="\u00b2", run="../../etc", seed="\u00b2", **{"class": "\u00b2"})
    assert_clean(at)


# --- 5. small uploads, huge memory; and the hostile-upload corpus through every upload widget -----------------

from hostile_uploads import EXPECTED_IMAGE_OUTCOME, hostile_corpus  # noqa: E402


@pytest.fixture(scope="session")
def hostile_files() -> dict[str, bytes]:
    """The hostile-upload corpus (tests/hostile_uploads.py), for any test of an upload widget."""
    return hostile_corpus()


@pytest.fixture
def cyclegan_only(tmp_path, tiny_checkpoints, monkeypatch) -> Path:
    import shutil

    root = tmp_path / "ckpts"
    shutil.copytree(tiny_checkpoints / "tiny-cyclegan", root / "tiny-cyclegan")
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    return root


def _mime(name: str) -> str:
    return {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}[name.rsplit(".", 1)[1]]


def test_the_hostile_corpus_through_the_cyclegan_uploader(cyclegan_only, hostile_files):
    at = page("pages/5_CycleGAN_translate.py")
    assert_clean(at)
    names = list(hostile_files)
    for start in range(0, len(names), 8):
        batch = names[start : start + 8]
        at.file_uploader(key="cg_uploads").set_value([(n, hostile_files[n], _mime(n)) for n in batch])
        grew = peak_growth(at.run)
        assert_clean(at)
        assert grew < MEMORY_BAR, f"peak RSS grew {grew / MB:.0f} MB on {batch}"
        shown_errors = {e.value.split(":", 1)[0]: e.value for e in at.error}
        for name in batch:
            if name in EXPECTED_IMAGE_OUTCOME:
                assert EXPECTED_IMAGE_OUTCOME[name] in shown_errors.get(name, ""), (name, shown_errors.get(name))
            else:
                assert name not in shown_errors, shown_errors[name]
        translated = [i for i in at.image for c in i.captions if c.startswith("Translated")]
        assert len(translated) == len([n for n in batch if n not in EXPECTED_IMAGE_OUTCOME])


def test_more_files_than_allowed_in_one_upload_are_not_all_translated(cyclegan_only):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "green").save(buf, "PNG")
    at = page("pages/5_CycleGAN_translate.py")
    at.file_uploader(key="cg_uploads").set_value([(f"p{i}.png", buf.getvalue(), "image/png") for i in range(30)]).run()
    assert_clean(at)
    assert any("the first 8 are translated" in w.value for w in at.warning)
    assert len([i for i in at.image for c in i.captions if c.startswith("Translated")]) == 8


def test_the_per_session_translation_cache_is_bounded_by_bytes(cyclegan_only, monkeypatch):
    import io

    from PIL import Image

    at = page("pages/5_CycleGAN_translate.py")
    at.select_slider(key="cg_max_side").set_value(1024).run()
    for i in range(6):
        buf = io.BytesIO()
        Image.new("RGB", (1024, 1024), (i * 40, 0, 0)).save(buf, "PNG")
        at.file_uploader(key="cg_uploads").set_value((f"big{i}.png", buf.getvalue(), "image/png")).run()
        assert_clean(at)
    cache = at.session_state["cg_cache"]
    held = sum(img.width * img.height * 3 for t in cache.values() for img in (t.source, t.translated, t.reconstructed) if img)
    assert held <= 48 * MB and len(cache) < 6


# --- 10. a very wide photo -------------------------------------------------------------------------------

def test_a_6000x40_panorama_translates(cyclegan_only, hostile_files):
    at = page("pages/5_CycleGAN_translate.py")
    at.file_uploader(key="cg_uploads").set_value(("pano.jpg", hostile_files["panorama-6000x40.jpg"], "image/jpeg")).run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    assert [c for i in at.image for c in i.captions if c.startswith("Translated")]
    (entry,) = at.session_state["cg_cache"].values()
    assert entry.translated.size == entry.source.size and entry.source.width > 100 * entry.source.height


def test_the_hostile_corpus_through_the_sgan_uploader(tiny_checkpoints, monkeypatch, hostile_files):
    import shutil

    root = Path(str(tiny_checkpoints) + "-sgan-only")
    if not root.exists():
        shutil.copytree(tiny_checkpoints / "tiny-sgan", root / "tiny-sgan")
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = page("pages/6_SGAN_classifier.py")
    at.radio(key="sg_source").set_value("upload").run()
    for name, data in hostile_files.items():
        at.file_uploader(key="sg_upload").set_value((name, data, _mime(name)))
        grew = peak_growth(at.run)
        assert_clean(at)
        assert grew < MEMORY_BAR, f"peak RSS grew {grew / MB:.0f} MB on {name}"
        if name in EXPECTED_IMAGE_OUTCOME:
            assert any(EXPECTED_IMAGE_OUTCOME[name] in e.value for e in at.error), (name, [e.value for e in at.error])
        else:  # a picture: classified, or told plainly that it holds no digit
            assert at.metric or any("No digit found" in e.value for e in at.error), (name, [e.value for e in at.error])


def test_the_hostile_corpus_and_bad_latent_files_through_the_latent_uploader(tiny_checkpoints, monkeypatch, hostile_files):
    import json as _json

    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    at = page("pages/1_Latent_explorer.py", model="tiny-dcgan")
    latent_files = {
        "huge-list.json": _json.dumps({"format": "ganstudio-latent", "latent": [0.0] * 400_000}).encode(),
        "nested.json": b"[" * 100_000 + b"]" * 100_000,
        "nan.json": b'{"format": "ganstudio-latent", "latent": [NaN]}',
        "wrong-type.json": b'{"format": "ganstudio-latent", "latent": "zero"}',
        "latin1.json": "{\"format\": \"\xe9\"}".encode("latin-1"),
        **{f"{n}.json": d for n, d in hostile_files.items()},
    }
    for name, data in latent_files.items():
        at.file_uploader(key="lx_upload").set_value((name, data, "application/json")).run()
        assert_clean(at)
        assert any(e.value.startswith(f"{name}: ") for e in at.error) or not data, (name, [e.value for e in at.error])


# --- 9. a wrongly typed card stops the home page -----------------------------------------------------------

@pytest.mark.parametrize("field, value, words", [
    ("snapshots", 5, "'snapshots' must be a list"),
    ("metrics", [1, 2], "'metrics' must be an object"),
    ("training", {"steps_done": "many"}, "'training.steps_done' must be a whole number"),
    ("arch", {"image_size": "big", "channels": 1}, "'arch.image_size' must be a whole number"),
    ("title", {"x": 1}, "'title' must be text"),
])
def test_a_wrongly_typed_card_becomes_a_tile_that_says_what_is_wrong(tmp_path, tiny_checkpoints, monkeypatch,
                                                                    field, value, words):
    import shutil

    root = tmp_path / "ckpts"
    for name in ("tiny-dcgan", "tiny-mlp"):
        shutil.copytree(tiny_checkpoints / name, root / name)
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", root / "a-broken")
    card = json.loads((root / "a-broken" / "card.json").read_text())
    card[field] = value if field != "training" else {**card["training"], **value}
    (root / "a-broken" / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    at = page("app.py")
    assert_clean(at)
    assert any(words in e.value for e in at.error), [e.value for e in at.error]
    assert not any(str(root) in e.value for e in at.error), "the message shows a server path"
    assert len([s for s in at.subheader]) >= 3, "the tiles after the broken one are drawn"


def test_an_oversized_architecture_is_refused_once_not_rebuilt_on_every_visit(tmp_path, tiny_checkpoints, monkeypatch):
    import shutil

    from ganmodels import checkpoint

    root = tmp_path / "ckpts"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", root / "huge")
    card = json.loads((root / "huge" / "card.json").read_text())
    card["arch"]["ngf"] = 100_000  # 3.9 GB of weights if built
    (root / "huge" / "card.json").write_text(json.dumps(card))
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(root))
    calls = []
    real = checkpoint.load_model
    monkeypatch.setattr("ui.common.load_model", lambda *a, **k: calls.append(a) or real(*a, **k))
    for _ in range(3):
        grew = []
        at = app_page("app.py", 120)
        grew.append(peak_growth(at.run))
        assert_clean(at)
        assert any("weights; this server loads at most" in e.value for e in at.error), [e.value for e in at.error]
        assert grew[0] < MEMORY_BAR
    assert len(calls) <= 1, f"the failed load was attempted {len(calls)} times"


# --- 6. live refresh reloads everything ----------------------------------------------------------------------

def test_a_growing_loss_log_is_parsed_once_then_only_its_new_rows(tmp_path, monkeypatch):
    from ganmodels import runs as runs_module

    log = tmp_path / "losses.csv"
    log.write_text("step,d_loss,g_loss\n" + "".join(f"{i},{i / 10},{-i}\n" for i in range(1, 20_001)))
    parsed = []
    real = runs_module._parse_lines
    monkeypatch.setattr(runs_module, "_parse_lines", lambda lines, state: parsed.append(len(lines)) or real(lines, state))
    first = runs_module.read_losses_incremental(tmp_path, every=5)
    assert first == runs_module.read_losses(tmp_path, every=5)
    assert sum(parsed) == 20_001
    with open(log, "a") as fh:
        fh.write("20001,1.5,-2\n20002,1.5,")  # the second row is still being written
    parsed.clear()
    second = runs_module.read_losses_incremental(tmp_path, every=1)
    assert sum(parsed) == 1 and second["step"][-1] == 20_001
    with open(log, "a") as fh:
        fh.write("-3\n")
    assert runs_module.read_losses_incremental(tmp_path)["g_loss"][-1] == -3
    # a rewritten log (a resumed run truncates it) is parsed again from its start
    log.write_text("step,d_loss,g_loss\n1,0.5,0.5\n")
    assert runs_module.read_losses_incremental(tmp_path)["step"] == [1.0]


def test_run_cards_are_parsed_again_only_when_they_change(tmp_path, tiny_checkpoints, monkeypatch):
    import shutil

    from ganmodels import runs as runs_module

    shutil.copytree(tiny_checkpoints / "tiny-dcgan", tmp_path / "r")
    reads = []
    real = runs_module.read_card
    monkeypatch.setattr(runs_module, "read_card", lambda folder: reads.append(folder) or real(folder))
    for _ in range(5):
        card = runs_module.read_card_cached(tmp_path / "r")
    assert len(reads) == 1 and card.id == "tiny-dcgan"
    card.title = "changed by a caller"
    assert runs_module.read_card_cached(tmp_path / "r").title != "changed by a caller"
    time.sleep(0.01)
    card.save(tmp_path / "r")
    assert runs_module.read_card_cached(tmp_path / "r").title == "changed by a caller" and len(reads) == 2


def test_the_decoded_folder_cache_is_pruned_least_recently_used_first(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from ganmodels import data

    monkeypatch.setenv("GANSTUDIO_CACHE", str(tmp_path / "cache"))
    folders = []
    for i in range(3):
        folder = tmp_path / f"imgs{i}"
        folder.mkdir()
        Image.new("RGB", (32, 32), (i, 0, 0)).save(folder / "a.png")
        folders.append(folder)
    for folder in folders:
        data.load_image_folder(folder, 64)
        time.sleep(0.02)
    cached = sorted((tmp_path / "cache").glob("folder-*.npy"), key=lambda p: p.stat().st_mtime)
    assert len(cached) == 3
    one = cached[0].stat().st_size
    removed = data.prune_cache(max_bytes=2 * one)
    assert removed == [cached[0]] and len(list((tmp_path / "cache").glob("folder-*.npy"))) == 2
    assert np.load(cached[2]).shape == (1, 3, 64, 64)


def test_public_visitors_see_no_logs_commands_or_server_paths_of_runs(runs, tiny_checkpoints, monkeypatch):
    import shutil

    from ganmodels.cards import read_card

    folder = runs / "crashed"
    shutil.copytree(tiny_checkpoints / "tiny-dcgan", folder)
    card = read_card(folder)
    card.training.update(status="running", command=f"python -m ganmodels.train dcgan --data-root {runs}/secret")
    card.save(folder)
    (folder / "status.json").write_text(json.dumps({"status": "stopped", "step": 3, "pid": 999999, "error": "boom"}))
    (folder / "state.pt").write_bytes(b"")
    (runs / "crashed.log").write_text(f"Traceback (most recent call last):\n  File \"{runs}/secret.py\"\n")
    monkeypatch.setenv("GANSTUDIO_MODE", "public")
    at = page(PROGRESS, run="crashed")
    assert_clean(at)
    st_config.set_option("client.showErrorDetails", "full")
    shown = " ".join([c.value for c in at.code] + [m.value for m in at.markdown] + [c.value for c in at.caption])
    assert "Traceback" not in shown and str(runs) not in shown and "--resume" not in shown
    monkeypatch.setenv("GANSTUDIO_MODE", "private")
    at = page(PROGRESS, run="crashed")
    assert any("Traceback" in c.value for c in at.code), "the local user should still see the log"


def test_the_mode_and_limits_can_come_from_secrets_toml(runs, tiny_mnist):
    at = app_page(PROGRESS, 120)
    at.secrets["ganstudio"] = {"mode": "public"}
    at.run()
    assert any("turned off" in i.value for i in at.info)
    st_config.set_option("client.showErrorDetails", "full")
    at = app_page(PROGRESS, 120)
    at.secrets["ganstudio"] = {"mode": "private", "max_steps": 50}
    at.run()
    at = fill_form(at, tiny_mnist, "capped", steps=60)
    assert any("at most 50 steps" in e for e in errors(at)), errors(at)


def test_the_hostile_corpus_through_the_bring_your_own_image_uploader(tiny_checkpoints, monkeypatch, hostile_files):
    monkeypatch.setenv("GANSTUDIO_CHECKPOINTS", str(tiny_checkpoints))
    at = page("pages/1_Latent_explorer.py", model="tiny-dcgan")
    assert_clean(at)
    at.radio(key="lx_own_source").set_value("Upload").run()
    for name, data in hostile_files.items():
        at.file_uploader(key="lx_own_upload").set_value((name, data, _mime(name))).run()
        at.button(key="lx_own_find").click()
        grew = peak_growth(at.run)
        assert_clean(at)
        assert grew < MEMORY_BAR, f"peak RSS grew {grew / MB:.0f} MB on {name}"
        result = at.session_state["lx_inversion"]
        if name in EXPECTED_IMAGE_OUTCOME:
            assert EXPECTED_IMAGE_OUTCOME[name] in result.get("error", ""), (name, result)
        else:
            assert "found" in result or result.get("error"), (name, result)


@pytest.mark.parametrize("page_file", ["app.py", "pages/1_Latent_explorer.py", "pages/5_CycleGAN_translate.py"])
def test_every_page_hides_error_details_from_public_visitors(runs, monkeypatch, page_file):
    monkeypatch.setenv("GANSTUDIO_MODE", "public")
    st_config.set_option("client.showErrorDetails", "full")
    try:
        at = page(page_file)
        assert_clean(at)
        assert st_config.get_option("client.showErrorDetails") == "none"
    finally:
        st_config.set_option("client.showErrorDetails", "full")
