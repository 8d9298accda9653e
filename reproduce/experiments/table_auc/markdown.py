"""table_auc, step 3: table_auc.md, the tables a reader sees.

Sections, in order: the pixel ROC AUC and AUPRO (the paper's results table, one column
per anomaly map), image-level detection and segmentation at the validation threshold,
the cross rows (each autoencoder scored with the other residual), whether every model
trained, the controls (evaluation/reference.py), the pixel ROC AUC by defect kind, for an
MVTec AD texture category [MVTec AD]'s autoencoders beside ours, and the published numbers
on other data (reproduce/published.py). A map is bold only where it leads its dataset's
pixel ROC AUC by more than the uncertainty (:func:`leader`).
"""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from methods import MAPS, METHODS
from reproduce import published
from reproduce.experiments.table_auc.collect import (CHANCE, CROSS, KINDS, REFERENCE, above,
                                                     is_cross, key, main_rows, model_rows,
                                                     versus)

PIXEL_METRICS = [("pixel_auroc", "pixel ROC AUC"), ("aupro_30", "AUPRO (FPR <= 0.3)")]
SEGMENT_METRICS = [("image_auroc", "image ROC AUC"), ("iou", "IoU at val. threshold"),
                   ("f1", "F1 at val. threshold"), ("f1_max", "F1 oracle (test thr.)")]

INTRO = ("Pixel-level metrics pooled over all test images with masks (the paper's "
         "protocol: every pixel one sample). Each cell: the mean over the training seeds "
         "± their standard deviation; for the pixel ROC AUC, AUPRO and image ROC AUC also "
         "[the 95 % interval of that mean, resampling test images and seeds] "
         "(evaluation/uncertainty.py); 'descriptive (no interval)' where the evaluation "
         "kept nothing to resample (AUPRO and image ROC AUC need its bootstrap.npz): such a "
         "number describes this test set and is not a finding; "
         "'(k/n trained)' where not every seed's model learned more than a constant "
         "output (evaluation/trainedness.py): its numbers measure an untrained model. "
         "Bold: the map that leads its dataset's row by more than the uncertainty (the 95 % "
         "interval of its difference from the second-best map lies above 0, its own "
         "interval above chance, and all its models trained). IoU and F1 have no interval, "
         "so nothing in them is bold. Chance: 0.5 for pixel and image ROC AUC, 0.15 for "
         "AUPRO. Source: `<eval>/metrics.csv` of each dataset (evaluation/metrics.py).")
DESCRIPTIVE = "descriptive (no interval)"
SEGMENT_INTRO = ("Image ROC AUC: an image's score is the maximum of its smoothed map. IoU and F1: "
                 "segmentation `map > threshold`, the threshold chosen on defect-free validation "
                 "images only. 'F1 oracle' picks the threshold on the test set: an upper bound, "
                 "not a result.")


def fmt(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def cell(row, metric: str) -> str:
    """mean, ± the standard deviation over seeds where there are several, [the 95 %
    bootstrap interval] for the pixel AUC, and how many of the seeds' models trained
    (evaluation/trainedness.py) where not all did; 'not run' for a method the run left
    out (methods.py ``requires``: the FM-AE without its comparator's weights)."""
    if row.get("method") in METHODS and not math.isfinite(row.get("n_seeds", math.nan)):
        return "not run"
    text = fmt(row[metric])
    sd = row.get(f"{metric}_sd", math.nan)
    if isinstance(sd, float) and math.isfinite(sd):
        text += f" ± {sd:.3f}"
    text += bracket(row, metric)
    trained, seeds = row.get("n_trained", math.nan), row.get("n_seeds", math.nan)
    if isinstance(trained, (int, float)) and math.isfinite(trained) and trained < seeds:
        text += f" ({int(trained)}/{int(seeds)} trained)" if trained else " (not trained)"
    return text


def bracket(row, metric: str) -> str:
    """' [lo, hi]', the 95 % interval of ``metric`` in the row, where it has one; for a
    metric that could have one (CHANCE's) and a value, ' descriptive (no interval)'."""
    low = row.get(f"{metric}_lo", math.nan)
    if isinstance(low, float) and math.isfinite(low):
        return f" [{low:.2f}, {row[f'{metric}_hi']:.2f}]"
    value = row.get(metric, math.nan)
    has_value = isinstance(value, float) and math.isfinite(value)
    return f" {DESCRIPTIVE}" if metric in CHANCE and has_value else ""


def wide(long: pd.DataFrame, metric: str, title: str, bounds: dict | None = None) -> str:
    """One Markdown table for one metric: a row per dataset, a column per map, the leader
    in bold where :func:`leader` finds one."""
    labels = [m.label for m in MAPS.values()]
    lines = [f"### {title}", "", "| dataset | " + " | ".join(labels) + " |",
             "|---" + "|---:" * len(labels) + "|"]
    for spec, group in main_rows(long).groupby("dataset", sort=False):
        rows = [group.loc[group["map"] == m].iloc[0].to_dict() for m in MAPS]
        lead = leader(rows, metric, (bounds or {}).get(spec, {}))
        cells = [f"**{cell(r, metric)}**" if m == lead else cell(r, metric)
                 for m, r in zip(MAPS, rows)]
        lines.append(f"| {spec} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def leader(rows: list[dict], metric: str, box: dict) -> str | None:
    """The map that leads a dataset's row by more than the uncertainty, else None. Only the
    metrics with an interval over test images and seeds (CHANCE's: pixel and image ROC
    AUC, AUPRO) can have a leader: the best map, whose difference from the second best
    has a 95 % interval (bounds.intervals) above 0, whose own interval lies above chance,
    and whose models all trained."""
    if metric not in CHANCE:
        return None
    ranked = sorted(((r[metric], m, r) for m, r in zip(MAPS, rows) if math.isfinite(r[metric])),
                    key=lambda t: t[0], reverse=True)
    if len(ranked) < 2:
        return None
    (_, best, row), (_, second, _) = ranked[:2]
    trained = row.get("n_trained", math.nan) == row.get("n_seeds", math.nan) or \
        not math.isfinite(row.get("n_trained", math.nan))
    above_chance = row.get(f"{metric}_lo", math.nan) > CHANCE[metric]
    ahead = above(box, key(metric, versus(best, second)))
    return best if ahead and above_chance and trained else None


def trainedness_md(long: pd.DataFrame) -> list[str]:
    """Did each model learn? Means over seeds of its validation R^2 and its loss against
    the best constant patch's (evaluation/trainedness.py). The measure column is the first
    of the method's ``fit_columns`` (methods.py: the loss ratio of the autoencoders, the
    VAE's gain in nats per pixel); active latent units where the method measures them."""
    rows = model_rows(long)
    if "n_trained" not in rows or rows["n_trained"].isna().all():
        return []
    md = ["## Did every model train?", "",
          "On patches of the defect-free validation images, never trained on. R^2 = 1 - "
          "SSE(x, reconstruction) / SSE(x, best constant patch); loss ratio = the model's "
          "loss / the best constant patch's (l2-AE, SSIM-AE); for the VAE the negative "
          "ELBO's gain over the best constant Gaussian in nats per pixel, and its active "
          "latent units. Trained: loss ratio <= 0.9 (VAE: gain >= 0.05 nats/pixel) and a "
          "reconstruction spread >= 0.3x the input's (not flat). Means over seeds.", "",
          "| dataset | model | trained | R^2 | loss ratio / VAE gain | VAE active units |",
          "|---|---|---:|---:|---:|---:|"]
    for _, r in rows.iterrows():
        if not math.isfinite(r.get("n_trained", math.nan)):  # method not evaluated
            continue
        entry = METHODS[r["method"]]
        units = fmt(r.get("fit_active_units")) if "active_units" in entry.fit_columns else ""
        md.append(f"| {r['dataset']} | {entry.label} | "
                  f"{int(r['n_trained'])}/{int(r['n_seeds'])} | {fmt(r.get('fit_r2'))} | "
                  f"{fmt(r.get(f'fit_{entry.fit_columns[0]}'))} | {units} |")
    return md + [""]


def auc_aupro_rows(rows: pd.DataFrame, columns: dict) -> list[str]:
    """A Markdown table: a row per dataset, a column per (method, map) of ``columns``
    (header: its label), each cell 'pixel AUC / AUPRO' as :func:`cell` writes them."""
    md = ["| dataset | " + " | ".join(columns.values()) + " |",
          "|---" + "|---:" * len(columns) + "|"]
    for spec, group in rows.groupby("dataset", sort=False):
        cells = []
        for method, name in columns:
            hit = group[(group["method"] == method) & (group["map"] == name)]
            row = hit.iloc[0].to_dict() if len(hit) else None
            cells.append(f"{cell(row, 'pixel_auroc')} / {cell(row, 'aupro_30')}"
                         if row else "n/a")
        md.append(f"| {spec} | " + " | ".join(cells) + " |")
    return md


def difference(row, column: str) -> str:
    """A difference of the row (signed, 3 decimals) with its interval or 'descriptive'."""
    value = row.get(column, math.nan)
    if not (isinstance(value, float) and math.isfinite(value)):
        return "n/a"
    low = row.get(f"{column}_lo", math.nan)
    return f"{value:+.3f}" + (f" [{low:+.2f}, {row[f'{column}_hi']:+.2f}]"
                              if math.isfinite(low) else f" {DESCRIPTIVE}")


def cross_md(long: pd.DataFrame) -> list[str]:
    """Each autoencoder scored with the other residual: loss or residual? Each with its
    difference from the same model scored with its own residual."""
    cross = long[is_cross(long)]
    if not len(cross):
        return []
    metrics = [("pixel_auroc", "pixel ROC AUC"), ("aupro_30", "AUPRO"),
               ("image_auroc", "image ROC AUC")]
    md = ["## Loss or residual? Each autoencoder scored with the other residual", "",
          "Each model scored with the other residual, and minus the same model scored with "
          "its own (the l2-AE and SSIM-AE columns of the main tables): a difference whose "
          "95 % interval excludes 0 says the residual, not the training loss, made the "
          "difference (the interval pairs the test images and the training seeds).", "",
          "| dataset | row | " + " | ".join(f"{t} | minus own residual" for _, t in metrics)
          + " |", "|---|---" + "|---:|---:" * len(metrics) + "|"]
    for _, r in cross.iterrows():
        row = r.to_dict()
        cells = [f"{cell(row, m)} | {difference(row, f'{m}_minus_own')}" for m, _ in metrics]
        md.append(f"| {row['dataset']} | {row['label']} | " + " | ".join(cells) + " |")
    return md + [""]


def reference_md(long: pd.DataFrame) -> list[str]:
    """The controls: detectors that learn nothing by gradient descent."""
    ref = long[long["method"] == "reference"]
    if ref.empty:
        return []
    md = ["## Controls: can this dataset's defects be found at all?", "",
          "Two detectors that learn nothing by gradient descent (evaluation/reference.py). "
          "The nearest-patch control is the upper reference: where it is not "
          "above chance, the dataset does not test the paper's claim; where it succeeds "
          "and an autoencoder does not, the autoencoder is the weak part. The "
          "intensity control is the lower reference. Pixel ROC AUC / AUPRO, each [95 % "
          "interval over test images].", "",
          *auc_aupro_rows(ref, REFERENCE)]
    return md + [""]


def kinds_md(long: pd.DataFrame, bounds: dict) -> list[str]:
    """The pixel ROC AUC by defect kind (collect.by_kind), seed means with intervals, and
    the SSIM map's minus the l2 map's with the interval of the difference."""
    rows = main_rows(long)
    kinds = [k for k in KINDS
             if f"pixel_auroc_{k}" in rows and rows[f"pixel_auroc_{k}"].notna().any()]
    if not kinds:
        return []
    labels = [m.label for m in MAPS.values()]
    md = ["## Pixel ROC AUC by defect kind", "",
          "Each over the defect-free test images plus the defective ones of one kind: "
          "structural defects change the texture's structure but hardly its grey "
          "values (the paper's case against per-pixel residuals); intensity defects "
          "change grey values. Mean over the training seeds [95 % interval, the test "
          "images and seeds resampled], from every seed's histograms.npz.", "",
          "| dataset | defects | " + " | ".join(labels) + " | SSIM-AE minus l2-AE |",
          "|---|---" + "|---:" * (len(labels) + 1) + "|"]
    for spec, group in rows.groupby("dataset", sort=False):
        for kind in kinds:
            column = f"pixel_auroc_{kind}"
            if group[column].isna().all():
                continue
            by_map = {r["map"]: r.to_dict() for _, r in group.iterrows()}
            cells = [fmt(by_map[m][column]) + bracket(by_map[m], column) for m in MAPS]
            lead = dict(zip(("lo", "hi"), (bounds.get(spec) or {}).get(
                key(column, versus("ssim", "l2")), (math.nan, math.nan))))
            diff = {"d": by_map["ssim"][column] - by_map["l2"][column],
                    "d_lo": lead["lo"], "d_hi": lead["hi"]}
            md.append(f"| {spec} | {kind} | " + " | ".join(cells)
                      + f" | {difference(diff, 'd')} |")
    return md + [""]


def test_set_md(ctx) -> list[str]:
    """What each test set holds, per defect type: images, defect pixels and their share,
    from the evaluation's histograms.npz (every image's pixel counts) and run.json."""
    md = ["## Test sets", "",
          "Every number above pools these images. Defect pixels: the pixels of the masks; "
          "units: the groups the bootstrap resamples (test images cut from overlapping or "
          "shared pixels of one photo form one unit; elsewhere every image is its own).", "",
          "| dataset | defect type | images | defect pixels | share of the defect pixels |",
          "|---|---|---:|---:|---:|"]
    for spec in ctx.datasets:
        path = ctx.eval_dir(spec) / "histograms.npz"
        if not path.exists():
            continue
        with np.load(path) as z:
            types = [str(t) for t in z["defect_types"]]
            counts = next(z[k] for k in z.files if "__" in k)[0]  # (K, 2, bins), first seed
            units = len(np.unique(z["groups"])) if "groups" in z.files else len(types)
        pixels = counts[:, 1].sum(axis=1)
        total = max(int(pixels.sum()), 1)
        for kind in dict.fromkeys(types):
            chosen = np.array([t == kind for t in types])
            n = int(pixels[chosen].sum())
            md.append(f"| {spec} | {kind} | {int(chosen.sum())} | {n} | {100 * n / total:.1f} % |")
        md.append(f"| {spec} | all ({units} units) | {len(types)} | {total} | 100 % |")
    return md + [""]


def document(ctx, long: pd.DataFrame, bounds: dict) -> str:
    """The whole of table_auc.md."""
    md = ["# Results: anomaly maps x datasets", "", INTRO, "",
          *[wide(long, m, t, bounds) for m, t in PIXEL_METRICS],
          "## Image-level detection and segmentation at the validation threshold", "",
          SEGMENT_INTRO, "", *[wide(long, m, t, bounds) for m, t in SEGMENT_METRICS]]
    md += cross_md(long) + trainedness_md(long) + reference_md(long) + kinds_md(long, bounds)
    md += test_set_md(ctx)
    md += mvtec_beside_ours(ctx, long)
    md.append(published.markdown())
    return "\n".join(md)


def _test_set_note(info: dict) -> str:
    """What part of the category's test set the evaluation saw, from its run.json."""
    profile = info.get("profile") or {}
    n = info.get("test_images")
    if not profile:
        return "test set: not recorded (no run.json)"
    caps = [profile.get(k) for k in ("max_test_good", "max_test_per_type")]
    if profile.get("small_data"):
        return (f"{n} test images: the {profile.get('name')} profile reads only the first few "
                "files of each folder (small data), a smoke test, not a result")
    if any(c is not None for c in caps):
        return (f"{n} test images, SUBSAMPLED by the {profile.get('name')} profile (the first "
                f"{caps[0]} defect-free and {caps[1]} per defect type, profile keys "
                "max_test_good / max_test_per_type); the published numbers use the full "
                "test set: use --profile paper for that")
    return f"{n} test images: the full test set, as [MVTec AD]"


def _first_seed_pro(folder) -> dict:
    """{map: per-region overlap at the validation threshold} of the first seed's maps
    (maps.npz), for the maps an entry of published.MVTEC_TEXTURES stands beside."""
    from evaluation.metrics import pro_at_threshold

    pro = {}
    if (folder / "maps.npz").exists():
        with np.load(folder / "maps.npz", allow_pickle=False) as z:
            for name in (entry.main_map for entry in METHODS.values() if entry.mvtec_column):
                if name in z.files and f"threshold_{name}" in z.files:
                    pro[name] = pro_at_threshold(z[name], z["masks"], z["has_mask"],
                                                 float(z[f"threshold_{name}"]))
    return pro


def _mvtec_category_md(ctx, long: pd.DataFrame, spec: str, category: str) -> list[str]:
    """One category's table: each of its published autoencoders, then ours."""
    folder = ctx.eval_dir(spec)
    info = json.loads((folder / "run.json").read_text()) if (folder / "run.json").exists() else {}
    pro = _first_seed_pro(folder)
    size, profile = info.get("image_size"), info.get("profile") or {}
    md = [f"### {category} (`{spec}`)", "",
          f"This run: images {'x'.join(map(str, size)) if size else 'of unrecorded size'}"
          f" ({(info.get('image_size_rule') or {}).get('rule', 'rule not recorded')}), "
          f"windows at stride {profile.get('stride', 'n/a')}, profile "
          f"{profile.get('name', 'n/a')}; {_test_set_note(info)}.", "",
          "| model | source | pixel ROC AUC | per-region overlap at val. threshold "
          "| AUPRO (FPR <= 0.3) |", "|---|---|---:|---:|---:|"]
    for method, entry in METHODS.items():
        if not entry.mvtec_column:
            continue
        name, theirs = entry.main_map, entry.mvtec_column
        their_pro, their_auc = published.MVTEC_TEXTURES[category][theirs]
        md.append(f"| {theirs} | [MVTec AD] Table 3 | {their_auc:.2f} | {their_pro:.2f} "
                  "| not reported |")
        hit = long[(long["dataset"] == spec) & (long["method"] == method) & (long["map"] == name)]
        if len(hit) and math.isfinite(hit["pixel_auroc"].iloc[0]):
            row = hit.iloc[0].to_dict()
            md.append(f"| {entry.label} | this run | {cell(row, 'pixel_auroc')} | "
                      f"{fmt(pro.get(name))} (first seed) | {cell(row, 'aupro_30')} |")
        else:
            md.append(f"| {entry.label} | this run | not evaluated | n/a | n/a |")
    return md + [""]


def mvtec_beside_ours(ctx, long: pd.DataFrame) -> list[str]:
    """For every dataset that is an MVTec AD texture category (published.mvtec_category):
    [MVTec AD] Table 3's autoencoders beside this run's (the methods whose ``mvtec_column``
    methods.py gives), the same columns for both where they exist, and the definitions.
    [] where there is none."""
    specs = [(spec, published.mvtec_category(spec)) for spec in long["dataset"].unique()]
    specs = [(spec, cat) for spec, cat in specs if cat]
    if not specs:
        return []
    proto = published.MVTEC_PROTOCOL
    md = ["## MVTec AD: this run beside the published autoencoders", "",
          f"Published: {published.MVTEC_SOURCE}. Their protocol (docs/PAPER_NOTES.md, 'MVTec AD "
          f"at the published protocol'): images zoomed to {proto['image_size']} x "
          f"{proto['image_size']} (the size [MVTec AD] states for its other texture methods; "
          f"not stated for the autoencoders), {proto['patch_size']} x {proto['patch_size']} "
          f"patches, {proto['training_patches']:,} training patches, windows at stride "
          f"{proto['stride']}, maps averaged. Metrics:", "",
          *[f"- {text}" for text in published.METRIC_DEFINITIONS], ""]
    for spec, category in specs:
        md += _mvtec_category_md(ctx, long, spec, category)
    return md
