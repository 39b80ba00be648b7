"""Semi-supervised GAN (Salimans et al. 2016, "Improved Techniques for Training GANs").

D has K class logits l; the unsupervised real/fake output comes from the same logits:
D(x) = Z/(Z+1) with Z = sum exp(l), so logit D(x) = logsumexp(l). G is trained by
feature matching. Nets follow the paper's MNIST model (MLPs, Gaussian noise, weight norm).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..data import subset_per_class
from .base import (CHANNELS, IMAGE_SIZE, NUM_CLASSES, Z_DIM, BatchSource, Family, GANTrainer, frozen, shared_hparam,
                   to_float_images)
from .options import Option


class GaussianNoise(nn.Module):
    def __init__(self, std: float):
        super().__init__()
        self.std = std

    def forward(self, x):
        return x + torch.randn_like(x) * self.std if self.training and self.std > 0 else x


class SGANGenerator(nn.Module):
    def __init__(self, z_dim: int = 100, channels: int = 1, image_size: int = 28, hidden: int = 500):
        super().__init__()
        self.z_dim, self.shape = z_dim, (channels, image_size, image_size)
        self.main = nn.Sequential(
            nn.Linear(z_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.Softplus(),
            nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.Softplus(),
            weight_norm(nn.Linear(hidden, channels * image_size * image_size)), nn.Tanh(),
        )

    def forward(self, z, labels=None):
        return self.main(z.reshape(z.shape[0], -1)).view(z.shape[0], *self.shape)


class SGANDiscriminator(nn.Module):
    """A K-way classifier whose logsumexp is the real/fake logit.

    `d_type="mlp"` is the paper's MNIST net; `"cnn"` is a small strided-conv net (as in the
    Keras SGAN tutorial) that learns far faster from 100 labels on a CPU budget.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10, hidden=(1000, 500, 250, 250, 250),
                 d_type: str = "mlp", width: int = 64):
        super().__init__()
        if d_type == "cnn":
            layers: list[nn.Module] = [GaussianNoise(0.15)]
            c_in, side = channels, image_size
            for c_out in (width, width * 2, width * 2):
                layers += [weight_norm(nn.Conv2d(c_in, c_out, 3, 2, 1)), nn.LeakyReLU(0.2, True)]
                c_in, side = c_out, (side + 1) // 2
            layers += [nn.Flatten(), nn.Dropout(0.3)]
            width_out = c_in * side * side
        elif d_type == "mlp":
            layers = [nn.Flatten(), GaussianNoise(0.3)]
            width_out = channels * image_size * image_size
            for h in hidden:
                layers += [weight_norm(nn.Linear(width_out, h)), nn.ReLU(True), GaussianNoise(0.5)]
                width_out = h
        else:
            raise ValueError(f"unknown SGAN discriminator type '{d_type}' (mlp or cnn)")
        self.features = nn.Sequential(*layers)
        self.classifier = weight_norm(nn.Linear(width_out, num_classes))

    def forward(self, x, labels=None):
        """Class logits; `real_fake_logit(logits)` gives the unsupervised output."""
        return self.classifier(self.features(x))

    def features_and_logits(self, x):
        h = self.features(x)
        return h, self.classifier(h)


def real_fake_logit(class_logits: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(class_logits, dim=1)


class SGANTrainer(GANTrainer):
    def __init__(self, family, G, D, arch, hp, data, device, seed):
        super().__init__(family, G, D, arch, hp, data, device, seed)
        self.labelled_idx = data["labelled_idx"]
        self.labelled = BatchSource(len(self.labelled_idx), hp["batch_size"], seed + 2)

    def state_dict(self):
        return {**super().state_dict(), "labelled": self.labelled.state_dict()}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.labelled.load_state_dict(state["labelled"])

    def step(self):
        real, _ = self.real_batch()
        n = real.shape[0]
        pick = self.labelled_idx[self.labelled.next_indices()]
        x_lab = to_float_images(self.images[pick], self.device)
        y_lab = self.labels[pick].to(self.device)

        self.opt_d.zero_grad(set_to_none=True)
        fake = self.G(self.randn(n, self.arch["z_dim"]))
        sup = F.cross_entropy(self.D(x_lab), y_lab)
        lse_real = real_fake_logit(self.D(real))
        lse_fake = real_fake_logit(self.D(fake.detach()))
        d_real = F.softplus(-lse_real).mean()  # -log D(x)
        d_fake = F.softplus(lse_fake).mean()  # -log(1 - D(G(z)))
        d_total = sup + self.hp["unsup_weight"] * (d_real + d_fake)
        d_total.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        with frozen(self.D):
            with torch.no_grad():
                h_real, _ = self.D.features_and_logits(real)
            h_fake, _ = self.D.features_and_logits(self.G(self.randn(n, self.arch["z_dim"])))
            g_loss = F.mse_loss(h_fake.mean(0), h_real.mean(0))  # feature matching
            g_loss.backward()
        self.opt_g.step()
        with torch.no_grad():
            acc = (self.D(x_lab).argmax(1) == y_lab).float().mean()
        return {
            "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": d_total.item(), "g": g_loss.item(),
            "supervised": sup.item(), "labelled_acc": acc.item(),
        }


@torch.no_grad()
def classifier_accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, device, batch_size: int = 1000) -> float:
    """Share of `images` whose argmax class equals the label, with the net in eval mode."""
    was_training = net.training
    net.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        logits = net(to_float_images(images[i : i + batch_size], device))
        correct += (logits.argmax(1).cpu() == labels[i : i + batch_size]).sum().item()
    net.train(was_training)
    return correct / len(images)


def train_plain_classifier(
    images: torch.Tensor, labels: torch.Tensor, arch: dict, steps: int = 2000, batch_size: int = 100, seed: int = 0, device="cpu"
) -> SGANDiscriminator:
    """The baseline SGAN is measured against: the same classifier net trained on the labelled images alone."""
    torch.manual_seed(seed)
    net = FAMILY.build_discriminator(arch).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    source = BatchSource(len(images), batch_size, seed)
    net.train()
    for _ in range(steps):
        idx = source.next_indices()
        loss = F.cross_entropy(net(to_float_images(images[idx], device)), labels[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


class SGANFamily(Family):
    name = "sgan"
    small_arch = {"g_hidden": 128, "d_hidden": [256, 128, 64]}
    distributable = False  # its steps call the discriminator's features_and_logits, which DistributedDataParallel does not forward
    title = "Semi-supervised GAN"
    summary = "A digit classifier that learns from 100 labels plus unlabelled images and a GAN."
    trainer_cls = SGANTrainer
    channels_last_on_cpu = False  # measured 0.95x with the conv discriminator: MLP G, weight-normed convs
    needs_labels = True
    data_splits = ("train", "test")
    discriminator_classifies = True

    arch_options = (
        Z_DIM,
        Option("g_hidden", int, 500, "width of G's two hidden layers", low=1),
        Option("d_hidden", list, [1000, 500, 250, 250, 250], "widths of the MLP discriminator's hidden layers", items=int,
               low=1),
        NUM_CLASSES, IMAGE_SIZE, CHANNELS,
        Option("d_type", str, "mlp", "the discriminator: mlp is the paper's, cnn a small strided-conv net that learns "
               "faster from 100 labels", choices=("mlp", "cnn"), recorded=False),
        Option("d_width", int, 64, "the cnn discriminator's first feature maps", low=1, recorded=False),
    )
    hparam_options = (
        shared_hparam("lr", default=2e-3),
        shared_hparam("batch_size", default=100),
        shared_hparam("labels", default=100, recorded=True),
        Option("unsup_weight", float, 1.0, "weight of the unsupervised (real/fake) loss beside the supervised one", low=0),
        Option("baseline_steps", int, 2000, "training steps of the plain classifier the model is measured against", low=0,
               recorded=False),
    )

    def complete_training_data(self, data, load_split, labels, seed):
        """`labels` images (100 by default), as many of each class, are the labelled subset; the test split
        measures the classifier at every snapshot."""
        y = data["labels"]
        per_class = (labels or 100) // int(y.max() + 1)
        data["labelled_idx"] = subset_per_class(y, per_class, seed)
        data["test_images"], data["test_labels"] = load_split("test")

    def snapshot_metrics(self, trainer, data):
        if "test_images" not in data:
            return {}
        return {"test_accuracy": classifier_accuracy(trainer.D, data["test_images"], data["test_labels"], trainer.device)}

    def companions(self, trainer, data):
        """The trained discriminator is the product; the plain classifier is its yardstick."""
        idx = data["labelled_idx"]
        baseline = train_plain_classifier(data["images"][idx], data["labels"][idx], trainer.arch,
                                          steps=trainer.hp.get("baseline_steps", 2000), device=trainer.device)
        return {"classifier": trainer.D, "baseline": baseline}

    def build_generator(self, arch):
        return SGANGenerator(arch["z_dim"], arch["channels"], arch["image_size"], arch["g_hidden"])

    def build_discriminator(self, arch):
        return SGANDiscriminator(arch["channels"], arch["image_size"], arch["num_classes"], tuple(arch.get("d_hidden", ())),
                                 arch.get("d_type", "mlp"), arch.get("d_width", 64))


FAMILY = SGANFamily()
