"""Shared fixtures: tiny datasets in the real on-disk formats, and tiny checkpoints of every family."""
from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("GANSTUDIO_DEVICE", "cpu")
torch.set_num_threads(min(2, torch.get_num_threads()))

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_MNIST = SHARED / "data" / "mnist"
SHARED_H2Z = SHARED / "data" / "horse2zebra"
COMPAT = SHARED / "compat"


def app_page(page: str | Path, timeout: float):
    """An AppTest of one page as the server runs it: app.py is the entrypoint (its st.navigation registers every page)
    and the page is switched to, so links to the other pages resolve as they do in a browser. "app.py" opens the
    default page, the home gallery."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    page = Path(page)
    page = page.relative_to(REPO) if page.is_absolute() else page
    if page != Path("app.py"):
        at.switch_page(str(page))
    return at


# --- a Streamlit server and headless Chromium, for the end-to-end tests (tests/test_e2e_*.py) --------------------

E2E_TIMEOUT_MS = 180_000  # two busy cores: a first render can take a while


@pytest.fixture(scope="module")
def app_checkpoints(tiny_checkpoints) -> Path:
    """The checkpoint folder a test module's Streamlit server shows; a module overrides this fixture for another."""
    return tiny_checkpoints


@pytest.fixture(scope="module")
def app_env() -> dict:
    """Extra environment for a test module's Streamlit server (a module overrides it, e.g. for its own cache)."""
    return {}


@pytest.fixture(scope="module")
def app_server(app_checkpoints, app_env, tmp_path_factory):
    """`streamlit run app.py` on a free localhost port over app_checkpoints, with its own runs folder (bench's
    StreamlitServer, the one the benchmarks use); stopped when the module's tests are done."""
    from bench._common import StreamlitServer

    env = {"GANSTUDIO_CHECKPOINTS": str(app_checkpoints), "GANSTUDIO_RUNS": str(tmp_path_factory.mktemp("runs")),
           "GANSTUDIO_DEVICE": "cpu", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **app_env}
    server = StreamlitServer(env, log_path=tmp_path_factory.mktemp("logs") / "streamlit.log")
    try:
        server.start(timeout=180)
    except RuntimeError as exc:
        log = server.log_path.read_text()[-3000:] if server.log_path.exists() else ""
        pytest.fail(f"the Streamlit server did not start: {exc}\n{log}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    """Headless Debian chromium through Playwright; skips, saying why, when either is unavailable."""
    import shutil

    from bench._common import CHROMIUM, launch_chromium

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"chromium is not installed ({CHROMIUM} missing; scripts/test.sh installs it with apt-get)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"the playwright package is not installed ({exc})")
    pw = sync_playwright().start()
    try:
        try:
            chromium = launch_chromium(pw)
        except Exception as exc:
            pytest.skip(f"playwright could not launch {CHROMIUM}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def viewport() -> dict:
    """The browser window of a test module's pages (a module overrides it, e.g. a projector's 1400x900)."""
    return {"width": 1400, "height": 1000}


@pytest.fixture
def page(browser, viewport):
    """A fresh browser context and page (downloads allowed), closed after the test."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(E2E_TIMEOUT_MS)
    yield page
    context.close()


def open_app_page(page, url: str, timeout_ms: int = E2E_TIMEOUT_MS) -> None:
    """Open a page of the app and wait until its script has run and everything is drawn. Every page starts with
    st.title: its h1 means the script is running and the page is Streamlit's, not a 404."""
    from bench._common import wait_app_idle

    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    wait_app_idle(page, timeout_ms=timeout_ms)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Standard IDX (the MNIST format), gzip-compressed."""
    code = {np.uint8: 0x08}[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def make_idx_dataset(root: Path, n_train: int = 256, n_test: int = 64, classes: int = 10, seed: int = 0) -> Path:
    """Digit-like blobs: each class a bright bar at its own position, so a classifier can learn it."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % classes).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 4 + 2 * c : 6 + 2 * c, 4:24] = 255
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def make_unpaired(root: Path, n: int = 6, size: int = 48) -> Path:
    """trainA/trainB/testA/testB JPEGs; A reddish, B striped, and one grayscale file as in horse2zebra."""
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for domain in ("A", "B"):
            folder = root / f"{split}{domain}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                arr = (rng.random((size, size, 3)) * 60).astype(np.uint8)
                if domain == "A":
                    arr[..., 0] += 150
                else:
                    arr[:, ::6] = 255
                img = Image.fromarray(arr)
                if i == 0:
                    img = img.convert("L")
                img.save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    return make_idx_dataset(tmp_path_factory.mktemp("mnist"))


@pytest.fixture(scope="session")
def tiny_unpaired(tmp_path_factory) -> Path:
    return make_unpaired(tmp_path_factory.mktemp("h2z") / "horse2zebra")


TINY_ARCH = {
    "mlp": {"g_hidden": [32, 32], "d_hidden": [32]},
    "dcgan": {"ngf": 8, "ndf": 8},
    "cgan": {"ngf": 8, "ndf": 8},
    "acgan": {"ngf": 8, "ndf": 8},
    "infogan": {"ngf": 8, "ndf": 8},
    "wgan_gp": {"ngf": 8, "ndf": 8},
    "sgan": {"g_hidden": 32, "d_hidden": [32, 16]},
    "cyclegan": {"ngf": 8, "ndf": 8, "n_blocks": 2},
}


def build_tiny_checkpoints(root: Path) -> Path:
    """A random-weight checkpoint folder per family, as the app would find them in checkpoints/."""
    from ganmodels.cards import ModelCard
    from ganmodels.checkpoint import save_model_folder
    from ganmodels.data import CLASS_NAMES
    from ganmodels.registry import FAMILIES

    torch.manual_seed(0)
    for name, family in FAMILIES.items():
        size, channels = (32, 3) if family.translator else (28, 1)
        arch = {**family.default_arch(size, channels, 10), **TINY_ARCH[name]}
        dataset = {"name": "horse2zebra"} if family.translator else {"name": "mnist", "classes": CLASS_NAMES["mnist"]}
        card = ModelCard(id=f"tiny-{name}", family=name, arch=arch, dataset=dataset, title=f"Tiny {family.title}",
                         metrics={"coverage_entropy_ratio": 0.5})
        if family.translator:
            arch["domains"] = {"a": "horse", "b": "zebra"}
        G = family.build_generator(arch).eval()
        companions = {}
        if family.discriminator_classifies:
            companions = {"classifier": family.build_discriminator(arch).eval(), "baseline": family.build_discriminator(arch).eval()}
        save_model_folder(root / card.id, card, G, companions)
    return root


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> Path:
    return build_tiny_checkpoints(tmp_path_factory.mktemp("checkpoints"))


COLOUR_FAMILIES = ("acgan", "dcgan")  # as the CIFAR-10 models: a class-conditional and an unconditional one
COLOUR_GAIN = 800.0


def build_tiny_colour_checkpoints(root: Path) -> Path:
    """Random-weight 32-px RGB checkpoints as a CIFAR-10 run publishes them (dataset 'cifar10' with its ten class
    names in label order): tiny-colour-acgan (conditional) and tiny-colour-dcgan."""
    from ganmodels.cards import ModelCard
    from ganmodels.checkpoint import save_model_folder
    from ganmodels.data import CLASS_NAMES
    from ganmodels.registry import FAMILIES

    torch.manual_seed(2)
    for name in COLOUR_FAMILIES:
        family = FAMILIES[name]
        arch = {**family.default_arch(32, 3, 10), **TINY_ARCH[name]}
        card = ModelCard(id=f"tiny-colour-{name}", family=name, arch=arch, title=f"Tiny colour {family.title}",
                         dataset={"name": "cifar10", "classes": CLASS_NAMES["cifar10"]},
                         metrics={"coverage_entropy_ratio": 0.5})
        companions = {}
        if family.discriminator_classifies:
            companions = {"classifier": family.build_discriminator(arch).eval(), "baseline": family.build_discriminator(arch).eval()}
        G = family.build_generator(arch).eval()
        last = [m for m in G.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))][-1]
        with torch.no_grad():  # random weights draw near-grey pictures; a louder last layer makes the channels differ
            last.weight.mul_(COLOUR_GAIN)
        save_model_folder(root / card.id, card, G, companions)
    return root


@pytest.fixture(scope="session")
def tiny_colour_checkpoints(tiny_checkpoints, tmp_path_factory) -> Path:
    """The tiny colour checkpoints beside (links to) every tiny grey one, as a checkpoints/ folder would mix them."""
    root = tmp_path_factory.mktemp("colour-checkpoints")
    for folder in tiny_checkpoints.iterdir():
        (root / folder.name).symlink_to(folder.resolve())
    return build_tiny_colour_checkpoints(root)


def examples_dcgan_file(path: Path, nz: int = 16, ngf: int = 8, nc: int = 1) -> Path:
    """A random-weight generator as pytorch/examples dcgan/main.py saves it (bare state dict, keys main.0 ...
    main.12, 64 px), with non-trivial BatchNorm statistics so eval mode is really exercised: a dropped-in file."""
    torch.manual_seed(1)

    def up(i, o, k, s, p, last=False):
        return [torch.nn.ConvTranspose2d(i, o, k, s, p, bias=False)] + ([] if last else [torch.nn.BatchNorm2d(o), torch.nn.ReLU(True)])

    net = torch.nn.Sequential(*up(nz, ngf * 8, 4, 1, 0), *up(ngf * 8, ngf * 4, 4, 2, 1), *up(ngf * 4, ngf * 2, 4, 2, 1),
                              *up(ngf * 2, ngf, 4, 2, 1), *up(ngf, nc, 4, 2, 1, last=True), torch.nn.Tanh())
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    torch.save({f"main.{k}": v for k, v in net.state_dict().items()}, path)
    return path


def start_run_from_form(at, family: str, dataset: str, root, name: str, steps: int = 4, snapshot_every: int = 2):
    """Fill Training progress's new-run form (small architecture) and press its button: the launch both run tests use."""
    at.selectbox(key="nr_family").set_value(family)
    at.selectbox(key="nr_dataset").set_value(dataset)
    at.text_input(key="nr_root").set_value(str(root))
    at.number_input(key="nr_steps").set_value(steps)
    at.number_input(key="nr_snap").set_value(snapshot_every)
    at.checkbox(key="nr_small").check()
    at.text_input(key="nr_name").set_value(name)
    at.button[0].click().run()
