"""table_auc, step 1b: the 95 % intervals of every row, and the pixel AUC by defect kind.

An evaluation folder holds what the intervals resample (reproduce/evaluate.py):
``histograms.npz``, every seed's per-image pixel counts of every map, and, where the
evaluation wrote it, ``bootstrap.npz``, every seed's per-region pixel counts and image
scores. evaluation/uncertainty.py ``resample`` draws the test images (in the units of
``groups``) once per replicate for every map, so that every difference is paired, and
each map's training seeds; from the same draws it takes each map's pixel ROC AUC, AUPRO
(FPR <= 0.3) and image ROC AUC, the last two only with bootstrap.npz. The maps are drawn
in a fixed order, which fixes each one's draws: the main maps in the order of MAPS, the
controls, then the cross rows (an autoencoder scored with the other's residual), which
share the seed draw of their model's own map (the same models: the difference is paired
by seed too), so that the pixel intervals of the main maps and controls are those they
always were.

The defect kinds (the structural defects, the others: the paper's claim is about the
first): each kind's rows pool the defect-free test images and the defective ones of that
kind with masks; its pixel ROC AUC is the mean over seeds of the binned AUC of those
images' counts, its interval from the whole test set's draws with the other images left
out (``resample``'s ``subset``).

The intervals come back as one dict, keyed by :func:`key` (the metric and a row or a
difference): ``row`` names a row (a main map or control by its map, a cross row as
``method/map``) and :func:`versus` a difference. Where a file is missing the keys are
absent: those numbers are descriptive (no interval).
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from methods import MAPS, METHODS, cross_maps, is_own

METRICS = ("pixel_auroc", "aupro_30", "image_auroc")
KINDS = ("structural", "intensity")
# the paper's comparisons: each map's pixel AUC minus the l2-AE's
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}
REFERENCE_MAPS = ("knn", "intensity")


def row(method: str, name: str) -> str:
    """The name of a row of the long table in the intervals: its map for a main map or a
    control, ``method/map`` for a cross row."""
    return name if method == "reference" or is_own(method, name) else f"{method}/{name}"


def key(metric: str, name: str) -> str:
    """The key of an interval: the row or difference ``name`` for the pixel ROC AUC (as
    the pixel intervals were always named), '<metric> <name>' for the others."""
    return name if metric == "pixel_auroc" else f"{metric} {name}"


def versus(a: str, b: str) -> str:
    """The name of the difference of row a minus row b."""
    return f"{a} - {b}"


def own_map(method: str) -> str:
    """The map a cross row's model is compared with: its own (METHODS' main map)."""
    return METHODS[method].main_map


def load_units(folder) -> tuple[dict, dict] | None:
    """({row: uncertainty.Units} in the drawing order of the module docstring, {labels,
    region_image, groups, defect_types}) of an evaluation folder; None without
    histograms.npz. Without bootstrap.npz the Units have no regions or scores."""
    from evaluation.uncertainty import Units

    path, extra = folder / "histograms.npz", folder / "bootstrap.npz"
    if not path.exists():
        return None
    order = ([(m.method, name) for name, m in MAPS.items()]
             + [("reference", n) for n in REFERENCE_MAPS] + list(cross_maps()))
    with np.load(path, allow_pickle=False) as h, \
            (np.load(extra, allow_pickle=False) if extra.exists() else nullcontext({})) as z:
        shared = {"groups": h["groups"] if "groups" in h.files else None,
                  "defect_types": h["defect_types"] if "defect_types" in h.files else None,
                  "labels": z["labels"] if "labels" in z else None,
                  "region_image": z["region_image"] if "region_image" in z else None}
        units = {}
        for method, name in order:
            stem = f"{method}__{name}"
            own = None if is_own(method, name) or method == "reference" else own_map(method)
            if stem not in h.files or (own is not None and own not in units):
                continue  # a cross row without its own map: none (its draws would shift all)
            units[row(method, name)] = Units(
                h[stem], z[f"{stem}__regions"] if f"{stem}__regions" in z else None,
                z[f"{stem}__image"] if f"{stem}__image" in z else None, seeds_of=own)
    return (units, shared) if units else None


def kind_subsets(defect_types, pixels, structural) -> dict:
    """{kind: (K,) bool} the test images of each defect kind's rows: the defect-free ones
    and the defective ones of that kind, with masks (non-zero counts in ``pixels``, one
    map's (S, K, 2, bins)); a kind without such defective images is absent, and so is
    every kind where no type is named structural."""
    if not structural or defect_types is None:
        return {}
    types = np.asarray(defect_types).astype(str)
    has_mask = np.asarray(pixels)[0].sum(axis=(1, 2)) > 0
    good = types == "good"
    out = {}
    for kind in KINDS:
        chosen = ~good & (np.isin(types, list(structural)) == (kind == "structural"))
        if (chosen & has_mask).any():
            out[kind] = has_mask & (chosen | good)
    return out


def _differences(samples: dict, metric: str) -> dict:
    """{difference: replicates} of ``metric``: every ordered pair of main maps, each cross
    row minus its model's own map."""
    have = {name for name, s in samples.items() if metric in s}
    out = {versus(a, b): samples[a][metric] - samples[b][metric]
           for a in MAPS for b in MAPS if a != b and {a, b} <= have}
    for method, name in cross_maps():
        cross, own = row(method, name), own_map(method)
        if {cross, own} <= have:
            out[versus(cross, own)] = samples[cross][metric] - samples[own][metric]
    return out


def intervals(folder, structural=()) -> dict:
    """Every 95 % interval of one evaluation folder, keyed by :func:`key` (module
    docstring), with the PAIRS differences of the pixel AUC under their claims' names;
    {} without histograms.npz. ``structural``: the dataset's structural defect types (none:
    no rows by kind)."""
    from evaluation.uncertainty import Units, interval, resample

    loaded = load_units(folder)
    if loaded is None:
        return {}
    units, shared = loaded
    draw = {k: shared[k] for k in ("labels", "region_image", "groups")}
    samples = resample(units, **draw)
    out = {key(metric, name): interval(values)
           for name, by_metric in samples.items() for metric, values in by_metric.items()}
    for metric in METRICS:
        out.update({key(metric, name): interval(values)
                    for name, values in _differences(samples, metric).items()})
    for claim, (a, b) in PAIRS.items():
        if versus(a, b) in out:
            out[claim] = out[versus(a, b)]
    pixels_only = {name: Units(u.pixels, seeds_of=u.seeds_of) for name, u in units.items()}
    for kind, subset in _subsets(units, shared, structural).items():
        by_kind = resample(pixels_only, subset=subset, groups=draw["groups"])
        for name, values in {**{n: s["pixel_auroc"] for n, s in by_kind.items()},
                             **_differences(by_kind, "pixel_auroc")}.items():
            out[key(f"pixel_auroc_{kind}", name)] = interval(values)
    return out


def kind_means(folder, structural=()) -> dict:
    """{kind: {row: its pixel ROC AUC over the kind's test images, mean over seeds}} of an
    evaluation folder (module docstring); {} without histograms.npz or structural types."""
    from evaluation.uncertainty import seed_mean_auroc

    loaded = load_units(folder)
    if loaded is None:
        return {}
    units, shared = loaded
    return {kind: {name: seed_mean_auroc(u.pixels[:, subset]) for name, u in units.items()}
            for kind, subset in _subsets(units, shared, structural).items()}


def _subsets(units: dict, shared: dict, structural) -> dict:
    return kind_subsets(shared["defect_types"], next(iter(units.values())).pixels, structural)
