"""The app's pages, declared once: file, title, address, what each is for and which models it works with.

app.py builds Streamlit's navigation (st.navigation / st.Page) from this list, the home page links to a page through
its entry, and tests and benchmarks open a page by its entry's address. Nothing looks a page up by the words in its
file name. Free of Streamlit, so it is read without a server.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ganmodels.families.base import Family


@dataclass(frozen=True)
class PageEntry:
    path: str  # the page's file, relative to the repository root (as st.Page and st.page_link take it)
    title: str  # in the menu and on links
    url_path: str  # the address after the server's root: the file name without its number, as Streamlit made it
    note: str = ""  # one line on the home page: what the page is for
    link_label: str = ""  # the home page's link from a model's tile to this page ("" = no such link)
    # Which models the page works with, from the family's declared attributes and the card's architecture;
    # None = every model.
    shows: Callable[[Family, dict], bool] | None = None

    def accepts(self, family: Family | None, arch: dict | None) -> bool:
        """True when this page works with a model of `family` (None: unknown, e.g. a dropped-in file: let the page
        try) built as `arch`."""
        if self.shows is None or family is None:
            return True
        try:
            return bool(self.shows(family, arch or {}))
        except (KeyError, TypeError, ValueError):  # a card whose architecture lacks what the family reads
            return False


def _draws_from_latents(family: Family, arch: dict) -> bool:
    return not family.translator


def _has_latent_codes(family: Family, arch: dict) -> bool:
    return family.latent_codes(arch) is not None


def _translates(family: Family, arch: dict) -> bool:
    return family.translator


def _classifies(family: Family, arch: dict) -> bool:
    return family.discriminator_classifies


HOME = PageEntry("pages/0_Home.py", "Home", "Home")
LATENT_EXPLORER = PageEntry(
    "pages/1_Latent_explorer.py", "Latent explorer", "Latent_explorer",
    "move through a model's latent space: seeds, sliders, interpolation, arithmetic", "Explore", _draws_from_latents)
INFOGAN_CODES = PageEntry(
    "pages/2_InfoGAN_codes.py", "InfoGAN codes", "InfoGAN_codes",
    "the factors an InfoGAN discovered on its own", "See its codes", _has_latent_codes)
TRAINING_PROGRESS = PageEntry(
    "pages/3_Training_progress.py", "Training progress", "Training_progress",
    "how a model learned: progress grids, loss curves, start a run")
COMPARE_CHECKPOINTS = PageEntry(
    "pages/4_Compare_checkpoints.py", "Compare checkpoints", "Compare_checkpoints",
    "the same random numbers through several checkpoints side by side")
CYCLEGAN_TRANSLATE = PageEntry(
    "pages/5_CycleGAN_translate.py", "CycleGAN translate", "CycleGAN_translate",
    "turn horses into zebras and back with your own photos", "Translate photos", _translates)
SGAN_CLASSIFIER = PageEntry(
    "pages/6_SGAN_classifier.py", "SGAN classifier", "SGAN_classifier",
    "a classifier that learned from only 100 labels", "Try the classifier", _classifies)

# The pages besides Home, in menu order.
TOOLS: tuple[PageEntry, ...] = (LATENT_EXPLORER, INFOGAN_CODES, TRAINING_PROGRESS, COMPARE_CHECKPOINTS,
                                CYCLEGAN_TRANSLATE, SGAN_CLASSIFIER)
PAGES: tuple[PageEntry, ...] = (HOME, *TOOLS)
