"""The paper's methods in one table: how each is built and trained, which anomaly maps it
gives, and how tables and figures name and draw them.

Every module reads a method from here: training (reproduce/train.py: builder, loss),
evaluation (evaluation/maps.py: maps), segmentation (reproduce/segment.py: main map), the
tables and figures (reproduce/experiments/: labels, colours, training terms). A new
method is an entry in METHODS and one in MAPS for each map of its own, plus its model
(models/) and loss (losses/) files.

Builders and losses are named by their import path ("module.function"), imported where
they are used (``function``): the command line reads this table to check its input
before TensorFlow, which models/ and losses/ import, has loaded. The fields of
MODEL_FIELDS go into the model cache key by value (reproduce/train.py), as the profile's
training values do; labels, colours and styles do not, so editing them retrains nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from errors import InputError


@dataclass(frozen=True)
class Method:
    """One method: a model trained with a loss, and the anomaly maps computed from it."""
    label: str                    # its name in tables and figures
    builder: str                  # models/: (latent_dim=, patch_size=) -> keras.Model
    loss: str | None              # losses/: loss(x, x_hat); None: the model's train_step
                                  # computes its own (the VAE's negative ELBO)
    maps: tuple[str, ...]         # what evaluation/maps.py computes ("recon": the reconstruction)
    main_map: str                 # its map where one is shown (segment, the MVTec AD table)
    terms: tuple[tuple[str, str, str], ...]  # training curves: (log column, title, y label)
    recon_label: str = ""         # title of its reconstructions (default: label)
    fast_loss: str | None = None  # an equal, faster loss (profile key ``ssim_loss: fast``)


# the fields that determine a trained model: part of its cache key (reproduce/train.py)
MODEL_FIELDS = ("builder", "loss", "fast_loss")

METHODS = {
    "l2_ae": Method("l2-AE", builder="models.autoencoder.build_autoencoder",
                    loss="losses.l2.l2_loss", maps=("l2", "ssim", "recon"), main_map="l2",
                    terms=(("loss", "l2-AE", "sum of squared diff."),)),
    "ssim_ae": Method("SSIM-AE", builder="models.autoencoder.build_autoencoder",
                      loss="losses.ssim.ssim_loss", fast_loss="losses.ssim.ssim_loss_fast",
                      maps=("l2", "ssim", "recon"), main_map="ssim",
                      terms=(("loss", "SSIM-AE", "1 - SSIM"),)),
    "vae": Method("VAE", builder="models.vae.build_vae", loss=None,
                  maps=("vae_kl", "vae_rp", "recon"), main_map="vae_rp",
                  terms=(("reconstruction", "VAE: recon. term", "-log p(x|z) (nats)"),
                         ("kl", "VAE: KL term", "KL (nats)")),
                  recon_label="VAE (decoder mean)"),
}


@dataclass(frozen=True)
class Map:
    """One anomaly map of the paper, and how tables and figures show it."""
    method: str   # the method whose own map it is (another may compute it too: a cross row)
    label: str    # table column and legend label
    short: str    # its name in running text ("the SSIM residual")
    colour: str   # fig_roc: colour, line style and marker of its curve
    style: str
    marker: str


# the paper's four maps, in the order of every table's columns
MAPS = {"l2": Map("l2_ae", "l2-AE", "l2", "tab:blue", "-", "o"),
        "ssim": Map("ssim_ae", "SSIM-AE", "SSIM", "tab:red", "-", "s"),
        "vae_kl": Map("vae", "VAE (KL)", "KL", "tab:green", "--", "^"),
        "vae_rp": Map("vae", "VAE (recon. prob.)", "recon. prob.", "tab:purple", "-.", "v")}


def check_method(method: str) -> str:
    """``method`` if it is one of METHODS, else InputError (no TensorFlow needed)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    return method


def own_maps(method: str) -> list[str]:
    """The maps of MAPS that are the method's own (not the cross maps it also gives)."""
    return [name for name, spec in MAPS.items() if spec.method == method]


def function(path: str):
    """The function a table entry names ("package.module.function"), imported now."""
    module, name = path.rsplit(".", 1)
    return getattr(import_module(module), name)
