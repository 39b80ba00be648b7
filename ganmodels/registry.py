"""Maps a card's `family` to its module; adding a family means one module plus one line here."""
from __future__ import annotations

from .families import acgan, cgan, cyclegan, dcgan, infogan, mlp, sgan, wgan_gp
from .families.base import Family

FAMILIES: dict[str, Family] = {
    m.FAMILY.name: m.FAMILY for m in (mlp, dcgan, cgan, acgan, infogan, wgan_gp, sgan, cyclegan)
}


class UnknownFamilyError(KeyError):
    def __str__(self):
        return self.args[0]


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise UnknownFamilyError(f"unknown model family '{name}'; known: {', '.join(sorted(FAMILIES))}") from None
