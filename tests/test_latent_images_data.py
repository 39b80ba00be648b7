"""Latent-space utilities, image conversion and the upload decoder, and the dataset readers."""
from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SHARED_H2Z, SHARED_MNIST, make_idx_dataset, write_idx
from ganmodels import data as gdata
from ganmodels import images as gimages
from ganmodels.data import (
    DatasetError, default_root, list_images, load_idx_dataset, load_image_folder, load_labelled, load_unpaired, read_idx,
    subset_per_class,
)
from ganmodels.images import ImageDecodeError, decode_upload, from_pil, gif_bytes, grid, png_bytes, to_pil, upscale
from ganmodels.latent import (
    infogan_latent, interpolate, lerp, one_hot, random_infogan_codes, sample_latents, slerp, truncated_normal,
    vector_arithmetic,
)

# ================================ latent =========================================================


def test_sample_latents_seeded():
    a = sample_latents(7, 5, 100)
    assert a.shape == (5, 100) and a.dtype == torch.float32
    assert torch.equal(a, sample_latents(7, 5, 100))
    assert not torch.equal(a, sample_latents(8, 5, 100))
    assert torch.equal(sample_latents(7, 3, 100, psi=0.7), sample_latents(7, 3, 100, psi=0.7))
    # huge seeds (URLs) are folded into range rather than failing
    assert sample_latents(2**70, 1, 4).shape == (1, 4)


@pytest.mark.parametrize("psi", [0.1, 0.5, 1.0, 2.0])
def test_truncation_bounds(psi):
    z = sample_latents(3, 64, 128, psi=psi)
    assert z.abs().max() <= psi
    assert z.abs().max() > psi * 0.8, "values should fill the allowed range"
    untruncated = sample_latents(3, 64, 128)
    assert untruncated.abs().max() > psi, "the check above would be vacuous"


def test_truncation_edge_cases():
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(truncated_normal((4, 8), 4.0, torch.Generator().manual_seed(1)),
                       truncated_normal((4, 8), None, torch.Generator().manual_seed(1)))
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="positive"):
            truncated_normal((2, 2), bad, gen)


def test_lerp_endpoints_and_midpoint():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 10, generator=gen), torch.randn(3, 10, generator=gen)
    assert torch.equal(lerp(a, b, 0.0), a)
    # a + (b - a) rounds to within an ulp of the larger operand, so an entry of b near 0 needs an absolute tolerance
    assert torch.allclose(lerp(a, b, 1.0), b, atol=1e-6)
    assert torch.allclose(lerp(a, b, 0.5), (a + b) / 2)


def test_slerp_endpoints_and_norm():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 64, generator=gen), torch.randn(4, 64, generator=gen)
    b = b / b.norm(dim=-1, keepdim=True) * a.norm(dim=-1, keepdim=True)  # equal norms
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    for t in (0.25, 0.5, 0.75):
        mid = slerp(a, b, t)
        assert torch.allclose(mid.norm(dim=-1), a.norm(dim=-1), rtol=1e-4), "slerp keeps the norm"
        assert (lerp(a, b, t).norm(dim=-1) < a.norm(dim=-1)).all(), "lerp shrinks it (the reason slerp exists)"
    # parallel and antiparallel vectors fall back to lerp instead of dividing by zero
    p = slerp(a, a * 2, 0.5)
    assert torch.isfinite(p).all() and torch.allclose(p, a * 1.5)
    assert torch.isfinite(slerp(a, -a, 0.5)).all()
    assert torch.isfinite(slerp(torch.zeros(1, 8), torch.ones(1, 8), 0.5)).all()


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_interpolate(method):
    a, b = torch.randn(1, 20), torch.randn(20)
    path = interpolate(a, b, 7, method)
    assert path.shape == (7, 20)
    assert torch.allclose(path[0], a[0], atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    steps = (path[1:] - path[:-1]).norm(dim=1)
    assert steps.max() < (b - a[0]).norm(), "intermediate points lie between the ends"


def test_interpolate_errors():
    a = torch.randn(4)
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(a, a, 1)
    with pytest.raises(ValueError, match="unknown interpolation 'cubic'"):
        interpolate(a, a, 3, "cubic")


def test_vector_arithmetic():
    a, b, c = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5]), torch.tensor([3.0, -1.0])
    assert torch.equal(vector_arithmetic(a, b, c), torch.tensor([3.5, 0.5]))
    stack_a = torch.stack([a, a + 2])  # mean a + 1
    assert torch.equal(vector_arithmetic(stack_a, b.reshape(1, 2), c), torch.tensor([4.5, 1.5]))
    assert vector_arithmetic(torch.randn(3, 1, 10), torch.randn(2, 10), torch.randn(10)).shape == (10,)


def test_one_hot():
    out = one_hot([2, 0], 4)
    assert torch.equal(out, torch.tensor([[0, 0, 1, 0], [1, 0, 0, 0]], dtype=torch.float32))
    assert one_hot(3, 5).shape == (1, 5)
    assert one_hot([], 3).shape == (0, 3)
    with pytest.raises(ValueError, match="0..3"):
        one_hot([4], 4)
    with pytest.raises(ValueError, match="0..3"):
        one_hot([-1], 4)
    with pytest.raises(ValueError, match="positive"):
        one_hot([0], 0)


def test_infogan_latent_layout():
    noise = torch.randn(3, 5)
    z = infogan_latent(noise, torch.tensor([0, 2, 9]), torch.tensor([[0.1, -0.2]] * 3), 10)
    assert z.shape == (3, 5 + 10 + 2)
    assert torch.equal(z[:, :5], noise)
    assert torch.equal(z[:, 5:15].argmax(1), torch.tensor([0, 2, 9]))
    assert torch.equal(z[:, 5:15].sum(1), torch.ones(3))
    assert torch.allclose(z[:, 15:], torch.tensor([[0.1, -0.2]] * 3))
    # a scalar category and one row of continuous codes are broadcast to every row
    z2 = infogan_latent(noise, 4, [0.5, 0.25], 10)
    assert torch.equal(z2[:, 5:15].argmax(1), torch.full((3,), 4))
    assert torch.equal(z2[:, 15:], torch.tensor([[0.5, 0.25]] * 3))
    with pytest.raises(ValueError):
        infogan_latent(noise, 10, [0.0, 0.0], 10)


def test_random_infogan_codes():
    cat, cont = random_infogan_codes(500, 10, 2, torch.Generator().manual_seed(0))
    assert cat.shape == (500,) and cont.shape == (500, 2)
    assert cat.min() >= 0 and cat.max() <= 9 and len(cat.unique()) == 10
    assert cont.min() >= -1 and cont.max() <= 1 and cont.min() < -0.9 and cont.max() > 0.9
    again = random_infogan_codes(500, 10, 2, torch.Generator().manual_seed(0))
    assert torch.equal(cat, again[0]) and torch.equal(cont, again[1])


# ================================ images ==========================================================


@pytest.mark.parametrize("channels", [1, 3])
def test_to_pil_from_pil_round_trip(channels):
    levels = torch.randint(0, 256, (1, channels, 12, 20), generator=torch.Generator().manual_seed(0))
    x = levels.float() / 127.5 - 1
    pil = to_pil(x)
    assert pil.size == (20, 12) and pil.mode == ("L" if channels == 1 else "RGB")
    assert torch.equal(from_pil(pil, channels), x)
    assert torch.equal(from_pil(to_pil(x[0]), channels), x), "a CHW tensor works too"
    # values outside [-1, 1] are clamped, not wrapped around
    assert np.asarray(to_pil(torch.full((1, 8, 8), 5.0))).min() == 255
    assert np.asarray(to_pil(torch.full((1, 8, 8), -5.0))).max() == 0
    with pytest.raises(ValueError, match="one image"):
        to_pil(torch.zeros(2, channels, 4, 4))


def test_from_pil_converts_channels():
    rgb = Image.new("RGB", (6, 4), (255, 0, 0))
    assert from_pil(rgb, 1).shape == (1, 1, 4, 6)
    assert from_pil(Image.new("L", (6, 4), 0), 3).shape == (1, 3, 4, 6)


def test_grid_size():
    img = grid(torch.zeros(25, 1, 28, 28), nrow=5)
    assert img.size == (5 * 28 + 6 * 2, 5 * 28 + 6 * 2)
    img = grid(torch.zeros(10, 3, 32, 32), nrow=5)
    assert img.size == (5 * 32 + 6 * 2, 2 * 32 + 3 * 2) and img.mode == "RGB"
    # fixed scaling: an all-black batch stays black (min-max scaling would not), padding is black too
    assert np.asarray(grid(torch.full((4, 1, 8, 8), -1.0), nrow=2)).max() == 0


def test_upscale_and_png():
    small = to_pil(torch.rand(1, 28, 28) * 2 - 1)
    big = upscale(small, 256)
    assert big.size == (280, 280)
    assert set(np.unique(np.asarray(big))) == set(np.unique(np.asarray(small))), "nearest-neighbour, no new values"
    assert upscale(big, 256) is big
    data = png_bytes(big)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(data)).size == (280, 280)


def test_gif_bytes_is_animated():
    frames = [Image.new("RGB", (16, 16), (i * 40, 255 - i * 40, 0)) for i in range(5)]
    data = gif_bytes(frames, duration_ms=50)
    assert data[:6] in (b"GIF89a", b"GIF87a")
    gif = Image.open(io.BytesIO(data))
    assert gif.is_animated
    assert gif.n_frames == 5 + 3  # forward, then back without repeating the ends
    assert gif.info.get("loop") == 0
    assert Image.open(io.BytesIO(gif_bytes(frames, bounce=False))).n_frames == 5
    gray = [Image.new("L", (8, 8), v) for v in (0, 128, 255)]
    assert Image.open(io.BytesIO(gif_bytes(gray))).n_frames == 4
    with pytest.raises(ValueError):
        gif_bytes([])


# --- decode_upload ---------------------------------------------------------------------------------


def encode(img: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def assert_bounded(decoded, max_side: int = gimages.MAX_SIDE):
    w, h = decoded.image.size
    assert decoded.image.mode == "RGB"
    assert w % 4 == 0 and h % 4 == 0 and max(w, h) <= max_side


def test_decode_rgba_flattens_on_white():
    arr = np.zeros((40, 40, 4), np.uint8)
    arr[..., 0] = 200
    arr[:, :20, 3] = 255  # left half opaque red, right half fully transparent
    decoded = decode_upload(encode(Image.fromarray(arr, "RGBA")))
    assert decoded.original_mode == "RGBA" and decoded.original_size == (40, 40)
    px = np.asarray(decoded.image)
    assert tuple(px[5, 5]) == (200, 0, 0)
    assert tuple(px[5, 35]) == (255, 255, 255)
    assert any("white" in n for n in decoded.notes)
    assert_bounded(decoded)


def test_decode_palette_with_transparency():
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 255] + [255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 16, 32))
    data = encode(img, transparency=0)  # index 0 (blue) is transparent
    decoded = decode_upload(data)
    assert decoded.original_mode == "P"
    px = np.asarray(decoded.image)
    assert tuple(px[4, 4]) == (255, 0, 0)
    assert tuple(px[4, 28]) == (255, 255, 255), "transparent palette entries become white, not blue"
    assert_bounded(decoded)


def test_decode_cmyk():
    img = Image.new("CMYK", (24, 24), (0, 255, 255, 0))  # red in CMYK
    decoded = decode_upload(encode(img, "JPEG", quality=95))
    assert decoded.original_mode == "CMYK"
    r, g, b = np.asarray(decoded.image)[12, 12].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in decoded.notes)


def test_decode_grayscale():
    decoded = decode_upload(encode(Image.new("L", (20, 20), 77)))
    assert decoded.original_mode == "L"
    assert tuple(np.asarray(decoded.image)[0, 0]) == (77, 77, 77)
    assert any("grayscale" in n for n in decoded.notes)


def test_decode_16_bit():
    arr = np.zeros((16, 32), np.uint16)
    arr[:, 16:] = 65535
    arr[:, 8:16] = 32896
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    decoded = decode_upload(encode(img))
    assert decoded.original_mode.startswith("I")
    px = np.asarray(decoded.image)
    assert tuple(px[0, 0]) == (0, 0, 0) and tuple(px[0, 31]) == (255, 255, 255)
    assert 125 <= px[0, 10, 0] <= 130, "scaled, not clipped to 255"
    assert any("16-bit" in n for n in decoded.notes)


def test_decode_exif_rotated_jpeg():
    arr = np.zeros((32, 64, 3), np.uint8)  # 64 wide, 32 high; left half red, right half blue
    arr[:, :32] = (255, 0, 0)
    arr[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_upload(data)
    assert decoded.image.size == (32, 64), "width and height swap"
    px = np.asarray(decoded.image).astype(int)
    assert px[8, 16, 0] > 200 and px[8, 16, 2] < 60, "the left (red) half is now on top"
    assert px[56, 16, 2] > 200 and px[56, 16, 0] < 60
    assert any("EXIF" in n for n in decoded.notes)
    plain = decode_upload(encode(Image.fromarray(arr), "JPEG"))
    assert plain.image.size == (64, 32) and not any("EXIF" in n for n in plain.notes)


@pytest.mark.parametrize("size", [(101, 53), (33, 9), (640, 480), (1500, 1000), (999, 2001)])
def test_decode_bounds_and_multiple_of_four(size):
    img = Image.new("RGB", size, (10, 120, 200))
    decoded = decode_upload(encode(img, "JPEG" if max(size) > 600 else "PNG"), max_side=512)
    assert_bounded(decoded, 512)
    assert decoded.original_size == size
    w, h = decoded.image.size
    expected_scale = min(1.0, 512 / max(size))
    assert abs(w - size[0] * expected_scale) <= 4 and abs(h - size[1] * expected_scale) <= 4, "aspect ratio kept"
    assert decoded.resized == (decoded.image.size != size)
    if max(size) > 512:
        assert any("shrunk" in n for n in decoded.notes)


def test_decode_default_max_side():
    decoded = decode_upload(encode(Image.new("RGB", (2100, 700)), "JPEG"))
    assert_bounded(decoded)
    assert decoded.image.size == (1024, 340)


def png_claiming_size(width: int, height: int) -> bytes:
    """A small valid PNG whose header claims a huge size: a decompression bomb in miniature."""
    raw = bytearray(encode(Image.new("L", (8, 8))))
    ihdr = 8 + 8  # signature, then length + b"IHDR"
    raw[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(raw[12 : ihdr + 13])) & 0xFFFFFFFF
    raw[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(raw)


def test_decode_refuses_huge_pixel_count():
    with pytest.raises(ImageDecodeError, match=r"8000x5001 pixels \(40 MP\); the limit is 40 MP"):
        decode_upload(png_claiming_size(8000, 5001))
    # beyond PIL's own bomb guard the refusal must still speak of size, not call it "not an image"
    with pytest.raises(ImageDecodeError, match=r"too large.*the limit is 40 MP"):
        decode_upload(png_claiming_size(20000, 20000))


def test_decode_refuses_huge_file(monkeypatch):
    monkeypatch.setattr(gimages, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(ImageDecodeError, match="the limit is 0 MB|limit"):
        decode_upload(encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))))


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image at all" * 20, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|damaged"),
    ],
)
def test_decode_rejects_non_images(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_upload(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_decode_rejects_truncated(fmt):
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageDecodeError, match="damaged or truncated"):
        decode_upload(data[: len(data) // 2])


def test_decode_rejects_too_small():
    with pytest.raises(ImageDecodeError, match="only 4x20 pixels"):
        decode_upload(encode(Image.new("RGB", (4, 20))))


# ================================ data ============================================================


def test_read_idx_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    write_idx(tmp_path / "images.gz", images)
    write_idx(tmp_path / "labels.gz", labels)
    assert np.array_equal(read_idx(tmp_path / "images.gz"), images)
    assert np.array_equal(read_idx(tmp_path / "labels.gz"), labels)
    # uncompressed files read the same
    (tmp_path / "images-raw").write_bytes(gzip.decompress((tmp_path / "images.gz").read_bytes()))
    assert np.array_equal(read_idx(tmp_path / "images-raw"), images)


def idx_bytes(code: int, dims: tuple, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "bad magic"),
        (b"\x00", "bad magic"),
        (idx_bytes(0x07, (2,), b"\x00\x00"), "unknown IDX element type 0x07"),
        (bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02", "truncated IDX header"),
        (idx_bytes(0x08, (3, 2, 2), b"\x00" * 11), r"header says \(3, 2, 2\) but the file holds 11"),
        (idx_bytes(0x08, (2,), b"\x00" * 3), "holds 3 values"),
    ],
)
def test_read_idx_malformed(tmp_path, raw, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(DatasetError, match=message):
        read_idx(path)


def test_read_idx_missing_and_bad_gzip(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_idx(tmp_path / "absent.gz")
    (tmp_path / "fake.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="cannot read"):
        read_idx(tmp_path / "fake.gz")


def test_load_labelled_tiny(tiny_mnist):
    x, y = load_labelled("mnist", tiny_mnist)
    assert x.shape == (256, 1, 28, 28) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert y.dtype == torch.int64 and torch.equal(y[:12], torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]))
    # class c is a bright bar at rows 4+2c..5+2c: the pixels came through in the right place
    assert (x[3, 0, 10:12, 4:24] == 1.0).all()
    tx, ty = load_labelled("mnist", tiny_mnist, "test")
    assert tx.shape == (64, 1, 28, 28) and len(ty) == 64
    x32, _ = load_labelled("mnist", tiny_mnist, image_size=32)
    assert x32.shape == (256, 1, 32, 32) and x32.min() >= -1 and x32.max() <= 1


def test_load_labelled_errors(tmp_path, tiny_mnist):
    with pytest.raises(DatasetError, match="not a labelled dataset"):
        load_labelled("svhn", tiny_mnist)
    with pytest.raises(DatasetError, match="has no 'test' folder"):  # an IDX folder is no class-folder dataset
        load_labelled("cifar10", tiny_mnist, "test")
    with pytest.raises(DatasetError, match=r"mnist not found at .*nowhere.*--data-root"):
        load_labelled("mnist", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="fashion-mnist not found.*apt-get install dataset-fashion-mnist"):
        load_labelled("fashion-mnist", tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="has no train-images-idx3-ubyte"):
        load_labelled("mnist", empty)
    with pytest.raises(DatasetError, match="no default location"):
        default_root("svhn")


def test_load_labelled_mismatched_counts(tmp_path):
    root = make_idx_dataset(tmp_path / "m", n_train=20, n_test=10)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DatasetError, match="do not match"):
        load_idx_dataset(root)


def test_torchvision_layout_fallback(tmp_path):
    make_idx_dataset(tmp_path / "tv" / "MNIST" / "raw", n_train=20, n_test=10)
    x, y = load_labelled("mnist", tmp_path / "tv")
    assert x.shape == (20, 1, 28, 28) and len(y) == 20


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANSTUDIO_CACHE", str(folder))
    return folder


def test_load_image_folder_grayscale_to_rgb_and_cache(tiny_unpaired, cache_dir, monkeypatch):
    folder = tiny_unpaired / "trainA"
    assert Image.open(folder / "0.jpg").mode == "L"
    out = load_image_folder(folder, 24)
    assert out.shape == (6, 3, 24, 24) and out.dtype == torch.uint8
    assert torch.equal(out[0, 0], out[0, 1]) and torch.equal(out[0, 1], out[0, 2]), "grayscale file repeated on R, G, B"
    assert not torch.equal(out[1, 0], out[1, 2]), "the colour files keep their colour"
    cached = list(cache_dir.glob("folder-*.npy"))
    assert len(cached) == 1
    assert not list(cache_dir.glob("*.tmp*")), "the atomic cache write leaves no temporary file"

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    with monkeypatch.context() as mp:
        mp.setattr(gdata.Image, "open", no_decoding)
        assert torch.equal(load_image_folder(folder, 24), out)
    # a different size, a limit, or a changed folder are different cache entries
    assert load_image_folder(folder, 16).shape == (6, 3, 16, 16)
    assert load_image_folder(folder, 24, limit=2).shape == (2, 3, 24, 24)
    Image.new("RGB", (30, 30), (1, 2, 3)).save(folder.parent / "extra.png")
    (folder.parent / "extra.png").rename(folder / "9.png")
    try:
        assert load_image_folder(folder, 24).shape == (7, 3, 24, 24)
    finally:
        (folder / "9.png").unlink()
    assert len(list(cache_dir.glob("folder-*.npy"))) == 4
    load_image_folder(folder, 20, cache=False)
    assert len(list(cache_dir.glob("folder-*.npy"))) == 4


def test_image_folder_errors(tmp_path, cache_dir):
    with pytest.raises(DatasetError, match="image folder not found"):
        list_images(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="holds no images"):
        list_images(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="cannot decode .*broken.jpg"):
        load_image_folder(bad, 16)


def test_load_unpaired(tiny_unpaired, cache_dir, tmp_path):
    a, b = load_unpaired(tiny_unpaired, 20)
    assert a.shape == (6, 3, 20, 20) and b.shape == (6, 3, 20, 20)
    assert a[1:, 0].float().mean() > a[1:, 2].float().mean() + 50, "domain A is reddish"
    ta, _ = load_unpaired(tiny_unpaired, 20, "test", limit=3)
    assert ta.shape == (3, 3, 20, 20)
    with pytest.raises(DatasetError, match="unpaired dataset folder not found"):
        load_unpaired(tmp_path / "absent", 20)
    partial = tmp_path / "partial"
    (partial / "trainA").mkdir(parents=True)
    with pytest.raises(DatasetError, match="lacks trainB.*trainA, trainB, testA, testB"):
        load_unpaired(partial, 20)


def test_subset_per_class():
    labels = torch.arange(100) % 10
    idx = subset_per_class(labels, 3, seed=1)
    assert len(idx) == 30 and len(idx.unique()) == 30
    assert torch.equal(torch.bincount(labels[idx]), torch.full((10,), 3))
    assert torch.equal(idx, subset_per_class(labels, 3, seed=1))
    assert not torch.equal(idx, subset_per_class(labels, 3, seed=2))
    with pytest.raises(DatasetError, match="class 0 has only 10 examples; 11 were asked for"):
        subset_per_class(labels, 11)


# --- the real offline copies (skipped where ../shared/data is absent) ----------------------------------


def test_shared_mnist_test_split():
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not available at {SHARED_MNIST}")
    x, y = load_labelled("mnist", SHARED_MNIST, "test")
    assert x.shape == (10000, 1, 28, 28) and len(y) == 10000
    assert torch.equal(torch.bincount(y)[:3], torch.tensor([980, 1135, 1032]))
    assert x.min() == -1 and x.max() == 1
    assert default_root("mnist").resolve() == SHARED_MNIST.resolve()


def test_shared_horse2zebra(cache_dir):
    if not (SHARED_H2Z / "testA").is_dir():
        pytest.skip(f"horse2zebra is not available at {SHARED_H2Z}")
    files = list_images(SHARED_H2Z / "testA")
    assert len(files) == 120
    a, b = load_unpaired(SHARED_H2Z, 32, "test", limit=4)
    assert a.shape == (4, 3, 32, 32) and b.shape == (4, 3, 32, 32)
    decoded = decode_upload(files[0].read_bytes())
    assert decoded.image.size == (256, 256) and decoded.original_mode == "RGB"


def test_grid_row_is_the_later_seed_alone():
    """Sample k of seed s's grid is seed s+k's single latent, so pages and URLs agree."""
    from ganmodels.latent import sample_latents

    grid = sample_latents(7, 4, 100)
    assert torch.equal(grid[3], sample_latents(10, 1, 100)[0])
    assert not torch.equal(grid[0], grid[1])


def test_infogan_latents_row_is_the_later_seed_alone(tiny_checkpoints):
    from ganmodels.checkpoint import load_model

    model = load_model(tiny_checkpoints / "tiny-infogan", "cpu")
    assert torch.equal(model.latents(5, 3)[2], model.latents(7, 1)[0])
