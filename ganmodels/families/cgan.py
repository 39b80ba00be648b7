"""Conditional GAN (Mirza & Osindero 2014) on DCGAN nets: the label is an input of both G and D."""
from __future__ import annotations

from .base import CHANNELS, IMAGE_SIZE, NDF, NGF, NUM_CLASSES, Z_DIM, Family, StandardGANTrainer
from .dcgan import DCGANDiscriminator, DCGANGenerator


class ConditionalTrainer(StandardGANTrainer):
    conditional = True


class CGANFamily(Family):
    name = "cgan"
    small_arch = {"ngf": 16, "ndf": 16}
    title = "Conditional GAN"
    summary = "Class-conditional DCGAN: pick the class, the latent picks the style."
    conditional = True
    needs_labels = True
    trainer_cls = ConditionalTrainer
    arch_options = (Z_DIM, NGF, NDF, NUM_CLASSES, IMAGE_SIZE, CHANNELS)

    def build_generator(self, arch):
        return DCGANGenerator(arch["z_dim"], arch["channels"], arch["image_size"], arch["ngf"], arch["num_classes"])

    def build_discriminator(self, arch):
        return DCGANDiscriminator(arch["channels"], arch["image_size"], arch["ndf"], num_classes=arch["num_classes"])


FAMILY = CGANFamily()
