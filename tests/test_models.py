"""Every family's networks: shapes at each supported size and channel count, output range, conditioning errors."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY_ARCH
from ganmodels.families.dcgan import SUPPORTED_SIZES, DCGANGenerator, spatial_plan
from ganmodels.families.sgan import real_fake_logit
from ganmodels.registry import FAMILIES, UnknownFamilyError, get_family

N = 3
NUM_CLASSES = 10
LATENT_FAMILIES = [name for name, fam in FAMILIES.items() if not fam.translator]
SIZES_CHANNELS = [(s, c) for s in (28, 32, 64) for c in (1, 3)]


def tiny_arch(name: str, size: int, channels: int) -> dict:
    family = FAMILIES[name]
    return {**family.default_arch(size, channels, NUM_CLASSES), **TINY_ARCH[name]}


def generator_input(name: str, arch: dict, n: int = N, seed: int = 0):
    family = FAMILIES[name]
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, family.latent_size(arch), generator=gen)
    labels = torch.arange(n) % NUM_CLASSES if family.conditional else None
    return z, labels


def test_registry_lists_every_family_and_rejects_unknown():
    assert set(FAMILIES) == {"mlp", "dcgan", "cgan", "acgan", "infogan", "wgan_gp", "sgan", "cyclegan"}
    for name, fam in FAMILIES.items():
        assert fam.name == name and fam.title
    with pytest.raises(UnknownFamilyError, match="unknown model family 'stylegan'.*dcgan"):
        get_family("stylegan")


@pytest.mark.parametrize("size,channels", SIZES_CHANNELS)
@pytest.mark.parametrize("name", LATENT_FAMILIES)
def test_latent_generator_and_discriminator_shapes(name, size, channels):
    torch.manual_seed(0)
    family = FAMILIES[name]
    arch = tiny_arch(name, size, channels)
    G, D = family.build_generator(arch).eval(), family.build_discriminator(arch).eval()
    z, labels = generator_input(name, arch)
    with torch.no_grad():
        images = G(z, labels)
        assert images.shape == (N, channels, size, size)
        assert images.dtype == torch.float32
        assert torch.isfinite(images).all()
        assert images.min() >= -1.0 and images.max() <= 1.0
        out = D(images, labels)
        # wild weights drive the output layer far beyond 1: the range must still hold
        wild = family.build_generator(arch).eval()
        for p in wild.parameters():
            p.normal_(0.0, 1.0)
        saturated = wild(z * 10, labels)
        assert torch.isfinite(saturated).all()
        assert saturated.min() >= -1.0 and saturated.max() <= 1.0
        assert saturated.abs().max() > 0.99, "the bound above is only meaningful if the output saturates"

    if name == "acgan":
        adv, cls = out
        assert adv.shape == (N,) and cls.shape == (N, arch["num_classes"])
    elif name == "infogan":
        adv, cat, cont = out
        assert adv.shape == (N,)
        assert cat.shape == (N, arch["num_categories"]) and cont.shape == (N, arch["num_continuous"])
    elif name == "sgan":
        assert out.shape == (N, arch["num_classes"])
        assert real_fake_logit(out).shape == (N,)
    else:
        assert out.shape == (N,)
    for t in out if isinstance(out, tuple) else (out,):
        assert torch.isfinite(t).all()


@pytest.mark.parametrize("size,channels", [(32, 3), (64, 3), (28, 1), (64, 1)])
def test_cyclegan_shapes(size, channels):
    torch.manual_seed(0)
    family = FAMILIES["cyclegan"]
    arch = tiny_arch("cyclegan", size, channels)
    G, D = family.build_generator(arch).eval(), family.build_discriminator(arch).eval()
    assert set(G.keys()) == {"a2b", "b2a"} and set(D.keys()) == {"a", "b"}
    x = torch.rand(2, channels, size, size) * 2 - 1
    with torch.no_grad():
        for direction in ("a2b", "b2a"):
            y = G.translate(x * 20, direction)
            assert y.shape == x.shape
            assert y.min() >= -1 and y.max() <= 1
        # 70x70 PatchGAN: three stride-2 convs then two stride-1 k4 p1 convs
        side = size
        for _ in range(3):
            side = (side + 2 - 4) // 2 + 1
        side = side - 1 - 1
        for key in ("a", "b"):
            assert D[key](x).shape == (2, 1, side, side)


def test_cyclegan_single_direction_checkpoint_refuses_other_direction():
    arch = {**tiny_arch("cyclegan", 32, 3), "directions": ["a2b"]}
    G = FAMILIES["cyclegan"].build_generator(arch)
    with pytest.raises(KeyError, match="no b2a generator"):
        G.translate(torch.zeros(1, 3, 32, 32), "b2a")


class SizeJudge(torch.nn.Module):
    """A stand-in translator whose effect depends on the photo's scale, as a trained one's does: it paints +0.5 on
    photos no larger than 32 px and -0.5 on larger ones, and records the sizes it was given."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[-2:]))
        return torch.full_like(x, 0.5 if max(x.shape[-2:]) <= 32 else -0.5)


def test_scale_blend_takes_the_coarse_content_from_the_training_scale_and_the_detail_from_the_photo():
    from ganmodels.families.cyclegan import CycleGANGenerators, scale_blend

    torch.manual_seed(0)
    photo = torch.rand(1, 3, 96, 200) * 2 - 1
    judge = SizeJudge()
    blended = scale_blend(judge, photo, 32)
    assert blended.shape == photo.shape
    assert judge.seen == [(96, 200), (12, 32)]  # the photo itself, then shrunk to 32 on its longer side (multiples of 4)
    assert torch.allclose(blended, torch.full_like(photo, 0.5)), "the effect is the one at the training scale"
    # a translator that keeps the photo as it is: the blend keeps every pixel of it, no blur from the shrinking
    assert torch.allclose(scale_blend(torch.nn.Identity(), photo, 32), photo, atol=1e-5)
    # through the generators: only photos larger than the blend side are blended; blend_side=None is one direct pass
    generators = CycleGANGenerators({"a2b": SizeJudge()})
    small = torch.zeros(1, 3, 32, 28)
    assert torch.equal(generators.translate(small, "a2b", blend_side=32), torch.full_like(small, 0.5))
    assert torch.allclose(generators.translate(photo, "a2b", blend_side=32), blended)
    assert torch.equal(generators.translate(photo, "a2b"), torch.full_like(photo, -0.5))


def test_default_archs_build_at_mnist_size():
    """The shipped (non-tiny) defaults build and run at 28 px, one channel."""
    torch.manual_seed(0)
    for name in LATENT_FAMILIES:
        family = FAMILIES[name]
        arch = family.default_arch(28, 1, NUM_CLASSES)
        G = family.build_generator(arch).eval()
        z, labels = generator_input(name, arch, n=2)
        with torch.no_grad():
            assert G(z, labels).shape == (2, 1, 28, 28), name


@pytest.mark.parametrize("size", [16, 48, 128])
def test_dcgan_rejects_unsupported_size(size):
    with pytest.raises(ValueError, match="support image sizes"):
        spatial_plan(size)
    with pytest.raises(ValueError):
        DCGANGenerator(z_dim=10, channels=1, image_size=size, ngf=8)
    assert size not in SUPPORTED_SIZES


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp"])
def test_extra_layers_deepen_both_nets_and_leave_the_default_layout_alone(name):
    """`--arch extra_layers=N`: N stride-1 3x3 conv blocks in G and D; without it the nets (and so the keys of
    every shipped and foreign checkpoint) are the plain DCGAN's."""
    torch.manual_seed(0)
    family = FAMILIES[name]
    arch = tiny_arch(name, 28, 1)

    def square_convs(net):
        return [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3) and m.stride == (1, 1)]

    plain_G, plain_D = family.build_generator(arch), family.build_discriminator(arch)
    deep_G, deep_D = family.build_generator({**arch, "extra_layers": 2}), family.build_discriminator({**arch, "extra_layers": 2})
    assert not square_convs(plain_G) and not square_convs(plain_D)
    assert len(square_convs(deep_G)) == 2 and len(square_convs(deep_D)) == 2
    assert len(deep_G.state_dict()) > len(plain_G.state_dict())
    z, _ = generator_input(name, arch)
    with torch.no_grad():
        images = deep_G.eval()(z)
        assert images.shape == (N, 1, 28, 28) and images.abs().max() <= 1
        assert deep_D.eval()(images).shape == (N,)
    rebuilt = family.build_generator({**arch, "extra_layers": 2})
    rebuilt.load_state_dict(deep_G.state_dict())  # a card's arch rebuilds the same layout


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp"])
def test_full_res_layers_draw_the_pixels_with_a_conv_at_full_size(name):
    """`--arch full_res_layers=N`: the last upsampling makes feature maps and N 3x3 convs at the image's own size
    make the pixels (the last of them), so no pixel comes straight from a transposed conv; 0 keeps Radford's G."""
    torch.manual_seed(0)
    family = FAMILIES[name]
    arch = tiny_arch(name, 28, 1)
    full_size = {}

    def record(module, _, out):
        full_size[module] = out.shape[-1] == 28

    for layers in (1, 2):
        G = family.build_generator({**arch, "full_res_layers": layers}).eval()
        convs = [m for m in G.modules() if isinstance(m, torch.nn.Conv2d)]
        for m in convs:
            m.register_forward_hook(record)
        z, _ = generator_input(name, arch)
        with torch.no_grad():
            images = G(z)
        assert images.shape == (N, 1, 28, 28) and images.abs().max() <= 1
        assert sum(full_size[m] and m.kernel_size == (3, 3) for m in convs) == layers
        assert type(G.main[-2]) is torch.nn.Conv2d and G.main[-2].out_channels == 1
        family.build_generator({**arch, "full_res_layers": layers}).load_state_dict(G.state_dict())
    plain = family.build_generator(arch)
    assert type(plain.main[-2]) is torch.nn.ConvTranspose2d


@pytest.mark.parametrize("name", ["dcgan", "wgan_gp"])
def test_spectral_d_norm_makes_every_discriminator_layer_1_lipschitz(name):
    """`--arch d_norm=spectral` (SN-DCGAN): no norm layer mixes a batch, and each conv, as D uses it in training, has
    largest singular value 1 (checked against the SVD of its weight matrix, Miyato et al.'s normalisation)."""
    torch.manual_seed(0)
    family = FAMILIES[name]
    arch = {**tiny_arch(name, 28, 1), "extra_layers": 1, "d_norm": "spectral"}
    D = family.build_discriminator(arch).train()
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4 and all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in convs)
    assert not [m for m in D.modules() if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm))]
    x = torch.randn(N, 1, 28, 28)
    for _ in range(30):  # each training-mode forward is one more power iteration
        D(x)
    for m in convs:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.02), m
        raw = torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2)
        assert abs(raw - 1.0) > 0.05, "the check above must be measuring the normalisation, not the init"
    rebuilt = family.build_discriminator(arch).eval()
    rebuilt.load_state_dict(D.state_dict())  # the power-iteration vectors are state, so a resumed run keeps them
    assert torch.equal(rebuilt(x), D.eval()(x))
    assert family.build_discriminator(tiny_arch(name, 28, 1)).state_dict().keys() != D.state_dict().keys()
    with pytest.raises(ValueError, match="unknown discriminator norm 'spectal'.*spectral"):
        family.build_discriminator({**arch, "d_norm": "spectal"})


@pytest.mark.parametrize("name", ["cgan", "acgan"])
def test_conditional_generator_needs_labels_and_uses_them(name):
    torch.manual_seed(0)
    family = FAMILIES[name]
    arch = tiny_arch(name, 28, 1)
    G = family.build_generator(arch).eval()
    z = torch.randn(2, arch["z_dim"])
    with pytest.raises(ValueError, match="pass labels"):
        G(z)
    with pytest.raises(ValueError, match="class labels must lie in 0..9"):
        G(z, torch.tensor([0, 10]))
    with torch.no_grad():
        a = G(z, torch.tensor([1, 1]))
        b = G(z, torch.tensor([7, 7]))
    assert not torch.equal(a, b), "the label must change the image"


def test_cgan_discriminator_needs_labels():
    arch = tiny_arch("cgan", 28, 1)
    D = FAMILIES["cgan"].build_discriminator(arch)
    with pytest.raises(ValueError, match="pass labels"):
        D(torch.zeros(2, 1, 28, 28))


def test_infogan_codes_change_the_image():
    torch.manual_seed(0)
    family = FAMILIES["infogan"]
    arch = tiny_arch("infogan", 28, 1)
    G = family.build_generator(arch).eval()
    z = torch.randn(1, family.latent_size(arch))
    z2 = z.clone()
    cat = slice(arch["z_dim"], arch["z_dim"] + arch["num_categories"])
    z2[:, cat] = torch.flip(z[:, cat], dims=[1])
    with torch.no_grad():
        assert not torch.equal(G(z), G(z2))
    assert family.latent_size(arch) == arch["z_dim"] + arch["num_categories"] + arch["num_continuous"]


def _infogan_scaled(arch: dict, weights: dict, **scales) -> torch.nn.Module:
    G = FAMILIES["infogan"].build_generator({**arch, **scales}).eval()
    G.load_state_dict(weights)
    return G


def test_infogan_input_scales_weigh_noise_and_codes_with_the_same_weights():
    family = FAMILIES["infogan"]
    arch = {**tiny_arch("infogan", 28, 1), "noise_std": 1.0}  # unscaled (the default scales the noise to 0.3)
    torch.manual_seed(0)
    plain = family.build_generator(arch).eval()
    assert plain.state_dict().keys() == DCGANGenerator(family.latent_size(arch), 1, 28, arch["ngf"]).state_dict().keys(), \
        "checkpoints stay DCGAN-shaped"
    silent, halved = (_infogan_scaled(arch, plain.state_dict(), noise_std=std) for std in (0.0, 0.5))
    codes_halved = _infogan_scaled(arch, plain.state_dict(), continuous_std=0.5)
    z = torch.randn(4, family.latent_size(arch))
    other_noise, half_noise = z.clone(), z.clone()
    other_noise[:, : arch["z_dim"]] = torch.randn(4, arch["z_dim"])
    half_noise[:, : arch["z_dim"]] *= 0.5
    with torch.no_grad():
        assert not torch.equal(plain(z), plain(other_noise))
        torch.testing.assert_close(silent(z), silent(other_noise))  # std 0: only the codes reach the net
        torch.testing.assert_close(halved(z), plain(half_noise))
    half_codes = z.clone()
    half_codes[:, -arch["num_continuous"] :] *= 0.5
    with torch.no_grad():
        torch.testing.assert_close(codes_halved(z), plain(half_codes))


@pytest.mark.parametrize("name", LATENT_FAMILIES + ["cyclegan"])
def test_fixed_inputs_and_render_fixed(name):
    """The progress grid's inputs: 25 latents, one row per class, or 5 test images per domain."""
    torch.manual_seed(0)
    family = FAMILIES[name]
    size, channels = (32, 3) if family.translator else (28, 1)
    arch = tiny_arch(name, size, channels)
    data = None
    if family.translator:
        data = {"test_a": torch.randint(0, 255, (6, 3, 36, 36), dtype=torch.uint8),
                "test_b": torch.randint(0, 255, (6, 3, 36, 36), dtype=torch.uint8)}
    fixed = family.fixed_inputs(arch, 123, data)
    again = family.fixed_inputs(arch, 123, data)
    assert all(torch.equal(fixed[k], again[k]) for k in fixed), "fixed inputs must be seeded"
    G = family.build_generator(arch).eval()
    images, nrow = family.render_fixed(G, fixed, torch.device("cpu"))
    expected = {"cyclegan": 20, "cgan": 50, "acgan": 50, "infogan": 50}.get(name, 25)
    assert images.shape == (expected, channels, size, size)
    assert nrow == 5
    assert images.min() >= -1 and images.max() <= 1
