"""The paper's methods in one table: how each is built and trained, which anomaly maps it
gives, how its training is judged, and how tables and figures name and draw it.

Every module reads a method from here and none tests a method's name: training
(training.py: builder, loss, warm-up), the model cache (reproduce/cache.py: MODEL_FIELDS),
evaluation (evaluation/maps.py: map_fn, per_patch; evaluation/trainedness.py: measure,
fit_columns), segmentation (reproduce/segment.py: main_map), the tables and figures
(reproduce/experiments/: labels, colours, training terms, warm-up, the [MVTec AD] column).
A new method is an entry in METHODS and one in MAPS for each map of its own, plus its
model (models/, with its map function) and loss (losses/) files.

Functions are named by their import path ("module.function"), imported where they are
used (``function``): the command line reads this table to check its input before
TensorFlow, which models/ and losses/ import, has loaded. The fields of MODEL_FIELDS go
into the model cache key by value (reproduce/cache.py), as the profile's training values
do; the others do not, so editing them retrains nothing.
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
    loss: str | None              # losses/: loss(x, x_hat), the target being the input;
                                  # None: the model's train_step computes its own (the VAE's
                                  # negative ELBO, the FM-AE's Eq. 3) from the input alone
    maps: tuple[str, ...]         # the maps it gives: names of MAPS, and "recon" (its
                                  # reconstruction, for the figures)
    map_fn: str                   # models/: (model, x, names, samples) -> {name: map} for
                                  # patches x (N, p, p, 1): per-pixel maps (N, p, p, 1), the
                                  # per_patch ones (N,); samples: draws where it samples
    main_map: str                 # its map where one is shown (segment, the MVTec AD table)
    terms: tuple[tuple[str, str, str], ...]  # training log: (column, title, y label); the
                                  # log also has val_<column> on the validation patches
    measure: str                  # evaluation/trainedness.py: how it compares with the best
                                  # constant output (model, x, m, loss, batch) -> (x_hat, row)
    fit_columns: tuple[str, ...]  # the trainedness columns its measure gives (row's keys);
                                  # the first decides "better than constant" (its "ratio")
    per_patch: tuple[str, ...] = ()  # maps with one value per patch (evaluated at the
                                  # profile's kl_stride and spread over the patch's pixels)
    warm_up: str | None = None    # models/: a Keras callback (epochs) raising the model's
                                  # warm-up over the profile's kl_warmup_epochs
    clipnorm: float | None = None  # Adam's global_clipnorm for this method (the VAE's: its
                                   # loss spikes at the end of the warm-up, models/vae.py)
    recon_label: str = ""         # title of its reconstructions (default: label)
    fast_loss: str | None = None  # an equal, faster loss (profile key ``ssim_loss: fast``)
    mvtec_column: str | None = None  # its column in [MVTec AD] Table 3 (reproduce/published.py)
    requires: str | None = None   # () -> None where it can run on this machine, else one line
                                  # saying why not (the FM-AE without its comparator's weights)
    key_inputs: str | None = None  # () -> dict: what else determines its trained model, beyond
                                  # the code and MODEL_FIELDS (the FM-AE's comparator file), in
                                  # its cache key by value (reproduce/cache.py)
    in_default_run: bool = True   # whether the default run (and `evaluate` without --methods)
                                  # trains it


# the fields that determine a trained model: part of its cache key (reproduce/cache.py)
MODEL_FIELDS = ("builder", "loss", "fast_loss", "warm_up", "clipnorm")

_AE = dict(builder="models.autoencoder.build_autoencoder", maps=("l2", "ssim", "recon"),
           map_fn="models.autoencoder.residual_maps",
           measure="evaluation.trainedness.loss_ratio", fit_columns=("loss_ratio",))
METHODS = {
    "l2_ae": Method("l2-AE", loss="losses.l2.l2_loss", main_map="l2", mvtec_column="AE (l2)",
                    terms=(("loss", "l2-AE", "sum of squared diff."),), **_AE),
    "ssim_ae": Method("SSIM-AE", loss="losses.ssim.ssim_loss", fast_loss="losses.ssim.ssim_loss_fast",
                      main_map="ssim", mvtec_column="AE (SSIM)",
                      terms=(("loss", "SSIM-AE", "1 - SSIM"),), **_AE),
    "vae": Method("VAE", builder="models.vae.build_vae", loss=None,
                  maps=("vae_kl", "vae_rp", "recon"), map_fn="models.vae.anomaly_maps",
                  per_patch=("vae_kl",), main_map="vae_rp",
                  terms=(("reconstruction", "VAE: recon. term", "-log p(x|z) (nats)"),
                         ("kl", "VAE: KL term", "KL (nats)")),
                  measure="evaluation.trainedness.nll_gain",
                  fit_columns=("nll_gain", "kl", "active_units"),
                  warm_up="models.vae.KLWarmUp", clipnorm=1e4,
                  recon_label="VAE (decoder mean)"),
    # Section 3.1.3: the Table-1 network trained with Eq. 3 (l2 + lambda * VGG19 feature
    # distance); needs VGG19's weights, which nothing downloads; out of the default run
    # until it has been run where they are (docs/PAPER_NOTES.md)
    "fm_ae": Method("FM-AE", builder="models.fm_ae.build_fm_ae", loss=None,
                    maps=("fm_l2", "ssim", "recon"), map_fn="models.fm_ae.residual_maps",
                    main_map="fm_l2",
                    terms=(("loss", "FM-AE", "Eq. 3: l2 + lambda * features"),
                           ("l2", "FM-AE: l2 term", "sum of squared diff.")),
                    measure="evaluation.trainedness.loss_ratio", fit_columns=("loss_ratio",),
                    requires="losses.comparator_weights.missing_reason",
                    key_inputs="losses.comparator_weights.identity", in_default_run=False),
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


# the paper's maps, in the order of every table's columns; the FM-AE's last (a later
# addition: the maps before it keep their bootstrap draws, table_auc/collect.py)
MAPS = {"l2": Map("l2_ae", "l2-AE", "l2", "tab:blue", "-", "o"),
        "ssim": Map("ssim_ae", "SSIM-AE", "SSIM", "tab:red", "-", "s"),
        "vae_kl": Map("vae", "VAE (KL)", "KL", "tab:green", "--", "^"),
        "vae_rp": Map("vae", "VAE (recon. prob.)", "recon. prob.", "tab:purple", "-.", "v"),
        "fm_l2": Map("fm_ae", "FM-AE", "l2 (FM-AE)", "tab:orange", ":", "D")}


def check_method(method: str) -> str:
    """``method`` if it is one of METHODS, else InputError (no TensorFlow needed)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: choose from {', '.join(METHODS)}")
    return method


def default_methods() -> list[str]:
    """The methods the default run trains (``in_default_run``), in the order of METHODS."""
    return [name for name, entry in METHODS.items() if entry.in_default_run]


def left_out(methods) -> dict[str, str]:
    """{method: why it cannot run on this machine} for those of ``methods`` whose
    ``requires`` says so."""
    why = {m: function(METHODS[m].requires)() for m in methods if METHODS[m].requires}
    return {m: reason for m, reason in why.items() if reason}


def runnable(methods, named: bool = False, log=print) -> list[str]:
    """``methods`` less those that cannot run on this machine (``left_out``). Named by the
    user, such a method is bad input (InputError); otherwise ``log`` says in one line that
    it is left out, and why."""
    missing = left_out(methods)
    if missing and named:
        method, why = next(iter(missing.items()))
        raise InputError(f"{method} cannot run here: {why}")
    for method, why in missing.items():
        log(f"{method} left out: {why}")
    return [m for m in methods if m not in missing]


def own_maps(method: str) -> list[str]:
    """The maps of MAPS that are the method's own (not the cross maps it also gives)."""
    return [name for name, spec in MAPS.items() if spec.method == method]


def is_own(method: str, name: str) -> bool:
    """Whether map ``name`` is ``method``'s own (a main row), not a cross map."""
    return name in MAPS and MAPS[name].method == method


def cross_maps() -> list[tuple[str, str]]:
    """(method, map) of every map of MAPS that a method gives but does not own: the
    cross rows of metrics.csv (each autoencoder scored with the other's residual)."""
    return [(method, name) for method, entry in METHODS.items() for name in entry.maps
            if name in MAPS and not is_own(method, name)]


def function(path: str):
    """The function a table entry names ("package.module.function"), imported now."""
    module, name = path.rsplit(".", 1)
    return getattr(import_module(module), name)
