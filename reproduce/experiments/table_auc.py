"""The paper's results table: every method's anomaly map on every dataset.

Reads the metrics that ``reproduce.evaluate`` wrote (``<eval_dir>/metrics.csv``, one row
per dataset x map; computed in evaluation/metrics.py) and lays them out as the paper
does: rows = datasets, columns = the four anomaly maps (l2-AE, SSIM-AE, VAE KL, VAE
reconstruction probability). The paper reports the pixel ROC AUC; the per-region overlap
(AUPRO up to FPR 0.3, MVTec AD) is added because large defects dominate the pixel AUC.
A second table holds the image-level ROC AUC and the IoU / F1 of the segmentation at the
threshold chosen on defect-free validation images (never on the test set), with the
oracle F1 (best threshold on the test set) as an upper bound for reference.

Writes ``table_auc.csv`` (long: dataset, method, map, label and every metric),
``table_auc.md`` (wide, a map in bold where it leads by more than its interval, then the published
numbers from other data in their own section; for a dataset that is an MVTec AD texture
category, by its folder's name, [MVTec AD]'s AE(l2) and AE(SSIM) beside ours with the
metrics' definitions: :func:`mvtec_beside_ours`) and ``claims.json``: per dataset, the
numbers behind the paper's claims (SSIM minus l2 pixel AUC; whether the VAE maps do no
better than l2, i.e. within l2 + 0.02), so a report can cite them.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.scoring import COLUMNS
from files import atomic_write_text
from methods import MAPS, METHODS
from reproduce import published

PIXEL_METRICS = [("pixel_auroc", "pixel ROC AUC"), ("aupro_30", "AUPRO (FPR <= 0.3)")]
SEGMENT_METRICS = [("image_auroc", "image ROC AUC"), ("iou", "IoU at val. threshold"),
                   ("f1", "F1 at val. threshold"), ("f1_max", "F1 oracle (test thr.)")]
# the metrics of evaluation/scoring.py the table keeps (all but the percentile threshold)
METRICS = [c for c in COLUMNS if c != "threshold_p99_9"]
KEYS = ("dataset", "method", "map")
VAE_MARGIN = 0.02

# each autoencoder scored with the other's residual (the maps of methods.py a method
# computes that are not its own)
CROSS = {(method, name): f"{entry.label} scored with the {MAPS[name].short} residual"
         for method, entry in METHODS.items() for name in entry.maps
         if name in MAPS and MAPS[name].method != method}
REFERENCE = {("reference", "knn"): "reference: nearest training patch (kNN)",
             ("reference", "intensity"): "reference: naive intensity"}
# what a map that knows nothing scores (a random map): AUPRO's is its FPR bound / 2
CHANCE = {"pixel_auroc": 0.5, "aupro_30": 0.15, "image_auroc": 0.5}
PAIRS = {"ssim_minus_l2": ("ssim", "l2"), "vae_kl_minus_l2": ("vae_kl", "l2"),
         "vae_rp_minus_l2": ("vae_rp", "l2")}


def _per_seed(df: pd.DataFrame) -> pd.DataFrame:
    """A metrics.csv with one row per (method, map): the mean over its seeds, with the
    standard deviation (``<metric>_sd``), the number of seeds and of trained models."""
    if "seed" not in df:
        df = df.assign(seed=0)
    rows = []
    for (method, name), group in df.groupby(["method", "map"], sort=False):
        row = {"method": method, "map": name, "n_seeds": int(group["seed"].nunique())}
        for metric in METRICS:
            if metric in group:
                values = group[metric].astype(float)
                row[metric] = float(values.mean())
                row[f"{metric}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        if "fit_trained" in group and group["fit_trained"].notna().any():
            row["n_trained"] = int(group["fit_trained"].astype(str).str.lower().eq("true").sum())
            for key in ("fit_r2", "fit_loss_ratio", "fit_nll_gain", "fit_active_units"):
                if key in group:
                    row[key] = float(pd.to_numeric(group[key], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def intervals(folder: Path) -> dict:
    """95 % bootstrap intervals (evaluation/uncertainty.py) of every map's seed-mean pixel
    AUC and of the PAIRS differences, from ``<eval>/histograms.npz``: {name: (lo, hi)};
    {} where the evaluation wrote none."""
    from evaluation.uncertainty import bootstrap, interval

    path = folder / "histograms.npz"
    if not path.exists():
        return {}
    wanted = [(m.method, name) for name, m in MAPS.items()] + list(REFERENCE)
    with np.load(path, allow_pickle=False) as z:
        counts = {name: z[f"{method}__{name}"] for method, name in wanted
                  if f"{method}__{name}" in z.files}
    if not counts:
        return {}
    samples = bootstrap(counts)
    out = {name: interval(values) for name, values in samples.items()}
    for claim, (a, b) in PAIRS.items():
        if a in samples and b in samples:
            out[claim] = interval(samples[a] - samples[b])
    for a in MAPS:  # every ordered pair of main maps, for the bold rule of _wide
        for b in MAPS:
            if a != b and a in samples and b in samples:
                out[_versus(a, b)] = interval(samples[a] - samples[b])
    return out


def _versus(a: str, b: str) -> str:
    """The key of the interval of map a's pixel AUC minus map b's in intervals()."""
    return f"{a} - {b}"


def collect(ctx) -> tuple[pd.DataFrame, dict]:
    """Long table of every dataset's metrics.csv, each (method, map) averaged over its
    training seeds: the four main rows in MAPS order (NaN where a method was not
    evaluated), then any other rows the evaluation wrote (the cross rows: each autoencoder
    scored with the other residual; the reference detectors). With it, each dataset's
    bootstrap intervals ({spec: intervals(...)})."""
    rows, columns, bounds = [], list(METRICS), {}
    for spec in ctx.datasets:
        path = ctx.eval_dir(spec) / "metrics.csv"
        if not path.exists():
            ctx.log(f"table_auc: no {path}, dataset {spec} left out")
            continue
        df = _per_seed(pd.read_csv(path))
        bounds[spec] = intervals(ctx.eval_dir(spec))
        columns += [c for c in df.columns if c not in KEYS and c not in columns]
        main = [(m.method, name, m.label) for name, m in MAPS.items()]
        extra = [(m, n, CROSS.get((m, n)) or REFERENCE.get((m, n), f"{m} / {n}"))
                 for m, n in zip(df["method"], df["map"])
                 if (m, n) not in {(a, b) for a, b, _ in main}]
        for method, name, label in main + extra:
            hit = df[(df["method"] == method) & (df["map"] == name)]
            row = {"dataset": spec, "method": method, "map": name, "label": label}
            for metric in columns:
                row[metric] = (float(hit[metric].iloc[0]) if len(hit) and metric in hit
                               else math.nan)
            low, high = ((math.nan, math.nan) if (method, name) in CROSS
                         else bounds[spec].get(name, (math.nan, math.nan)))
            row["pixel_auroc_lo"], row["pixel_auroc_hi"] = low, high
            rows.append(row)
    columns += ["pixel_auroc_lo", "pixel_auroc_hi"]
    return pd.DataFrame(rows, columns=[*KEYS, "label", *columns]), bounds


def _is_cross(long: pd.DataFrame) -> np.ndarray:
    return np.array([k in CROSS for k in zip(long["method"], long["map"])], dtype=bool)


def _main(long: pd.DataFrame) -> pd.DataFrame:
    """Only the four main rows per dataset (method, map) of MAPS."""
    keys = {(m.method, name) for name, m in MAPS.items()}
    return long[np.array([k in keys for k in zip(long["method"], long["map"])], dtype=bool)]


def _fmt(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _cell(row, metric: str) -> str:
    """mean, ± the standard deviation over seeds where there are several, [the 95 %
    bootstrap interval] for the pixel AUC, and how many of the seeds' models trained
    (evaluation/trainedness.py) where not all did."""
    text = _fmt(row[metric])
    sd = row.get(f"{metric}_sd", math.nan)
    if isinstance(sd, float) and math.isfinite(sd):
        text += f" ± {sd:.3f}"
    if metric == "pixel_auroc" and math.isfinite(row.get("pixel_auroc_lo", math.nan)):
        text += f" [{row['pixel_auroc_lo']:.2f}, {row['pixel_auroc_hi']:.2f}]"
    trained, seeds = row.get("n_trained", math.nan), row.get("n_seeds", math.nan)
    if isinstance(trained, (int, float)) and math.isfinite(trained) and trained < seeds:
        text += f" ({int(trained)}/{int(seeds)} trained)" if trained else " (not trained)"
    return text


def _wide(long: pd.DataFrame, metric: str, title: str, bounds: dict | None = None) -> str:
    """One Markdown table for one metric: a row per dataset, a column per map, the leader
    in bold where :func:`_leader` finds one."""
    labels = [m.label for m in MAPS.values()]
    lines = [f"### {title}", "", "| dataset | " + " | ".join(labels) + " |",
             "|---" + "|---:" * len(labels) + "|"]
    for spec, group in _main(long).groupby("dataset", sort=False):
        rows = [group.loc[group["map"] == m].iloc[0].to_dict() for m in MAPS]
        lead = _leader(rows, metric, (bounds or {}).get(spec, {}))
        cells = [f"**{_cell(r, metric)}**" if m == lead else _cell(r, metric)
                 for m, r in zip(MAPS, rows)]
        lines.append(f"| {spec} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _leader(rows: list[dict], metric: str, box: dict) -> str | None:
    """The map that leads a dataset's row by more than the uncertainty, else None. Only the
    pixel ROC AUC has an interval over test images and seeds, so only it can have a
    leader: the best map, whose difference from the second best has a 95 % interval
    (intervals()) above 0, whose own interval lies above chance, and whose models all
    trained."""
    if metric != "pixel_auroc":
        return None
    ranked = sorted(((r[metric], m, r) for m, r in zip(MAPS, rows) if math.isfinite(r[metric])),
                    key=lambda t: t[0], reverse=True)
    if len(ranked) < 2:
        return None
    (_, best, row), (_, second, _) = ranked[:2]
    trained = row.get("n_trained", math.nan) == row.get("n_seeds", math.nan) or \
        not math.isfinite(row.get("n_trained", math.nan))
    above_chance = row.get("pixel_auroc_lo", math.nan) > CHANCE[metric]
    return best if _above(box, _versus(best, second)) and above_chance and trained else None


def _above(box: dict, key: str, level: float = 0.0) -> bool:
    """Whether the 95 % interval ``box[key]`` (intervals()) lies above ``level``; False
    where there is none. The rule behind every bold cell and every claim that holds."""
    low = box.get(key, (math.nan,))[0]
    return math.isfinite(low) and low > level


def _num(value):
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def by_kind(ctx, spec) -> dict:
    """Pixel ROC AUC of each map on the structural and on the intensity defects apart:
    {kind: {map: auc}}, each over the defect-free test images plus the defective images
    of that kind (with masks). The paper's claim is about the structural kind. {} where
    the dataset names no structural types or has no maps.npz."""
    from errors import InputError
    from evaluation.metrics import pixel_auroc

    path = ctx.eval_dir(spec) / "maps.npz"
    structural = set(ctx.structural_types(spec)) if path.exists() else set()
    if not structural:
        return {}
    out = {}
    with np.load(path, allow_pickle=False) as z:
        types = [str(t) for t in z["defect_types"]]
        labels, has_mask = np.asarray(z["labels"]), z["has_mask"].astype(bool)
        for kind in ("structural", "intensity"):
            chosen = np.array([lab == 1 and (t in structural) == (kind == "structural")
                               for t, lab in zip(types, labels)], dtype=bool)
            keep = has_mask & (chosen | (labels == 0))
            if not (chosen & has_mask).any():
                continue
            aucs = {}
            for name in MAPS:
                try:
                    aucs[name] = _num(pixel_auroc(z[name], z["masks"], keep)) if name in z else None
                except InputError:
                    aucs[name] = None
            out[kind] = aucs
    return out


def _diff(a, b, table):
    """table[a] - table[b], or None where either is missing."""
    return None if table[a] is None or table[b] is None else round(table[a] - table[b], 4)


def claims(long: pd.DataFrame, kinds: dict | None = None, bounds: dict | None = None) -> dict:
    """Per dataset: the numbers behind the paper's claims, and booleans (None = n/a).
    'cross' holds each autoencoder scored with the other residual, if evaluated: it tells
    whether a gain comes from the training loss or from the residual map. With
    ``bounds`` (collect's intervals), each difference gets its 95 % interval, and a claim
    holds only where that interval excludes zero and the models compared trained."""
    out = {"datasets": {}, "vae_margin": VAE_MARGIN,
           "definition": {
               "ssim_minus_l2": "pixel ROC AUC of the SSIM-AE map minus that of the l2-AE map",
               "ssim_beats_l2": "ssim_minus_l2 > 0",
               "vae_kl_not_better_than_l2": f"VAE KL pixel AUC <= l2 pixel AUC + {VAE_MARGIN}",
               "vae_rp_not_better_than_l2": f"VAE recon. prob. pixel AUC <= l2 + {VAE_MARGIN}",
               "ssim_best": "the SSIM map has the highest pixel AUC of the four maps",
               "cross_pixel_auroc": "pixel AUC of each AE scored with the other residual "
                                    "(method/map), where evaluated",
               "pixel_auroc_structural": "pixel AUC on defect-free + structural-defect test "
                                         "images only (likewise _intensity)",
               "interval": "95 % two-level bootstrap interval (test images and training "
                           "seeds resampled; evaluation/uncertainty.py)",
               "ssim_beats_l2_holds": "the interval of ssim_minus_l2 lies above 0 and every "
                                      "seed's SSIM-AE and l2-AE trained",
               "vae_kl_beats_l2_holds": "the interval of vae_kl_minus_l2 lies above 0 and "
                                        "the models trained (likewise vae_rp)",
               "trained": "per map: trained models / seeds (evaluation/trainedness.py)",
               "reference_knn": "pixel AUC of the nearest-training-patch reference detector: "
                                "a dataset where it is not above chance does not test the claim",
               "chance": CHANCE}}
    for spec, group in _main(long).groupby("dataset", sort=False):
        auc = {m: _num(float(group.loc[group["map"] == m, "pixel_auroc"].iloc[0])) for m in MAPS}
        pro = {m: _num(float(group.loc[group["map"] == m, "aupro_30"].iloc[0])) for m in MAPS}
        d = {"pixel_auroc": auc, "aupro_30": pro}
        n_trained = dict(zip(group["map"], group.get("n_trained", pd.Series(np.nan, group.index))))
        n_seeds = dict(zip(group["map"], group.get("n_seeds", pd.Series(np.nan, group.index))))
        d["trained"] = {m: (f"{int(n_trained[m])}/{int(n_seeds[m])}"
                            if math.isfinite(n_trained.get(m, math.nan)) else None) for m in MAPS}
        all_trained = {m: n_trained.get(m) == n_seeds.get(m) for m in MAPS}
        box = (bounds or {}).get(spec, {})
        d["pixel_auroc_interval"] = {m: _pair(box.get(m)) for m in MAPS}
        for claim, (a, b) in PAIRS.items():
            d[f"{claim}_interval"] = _pair(box.get(claim))
            holds = _above(box, claim) and all_trained[a] and all_trained[b]
            d[f"{claim.replace('_minus_', '_beats_')}_holds"] = (
                None if claim not in box else bool(holds))
        ref = long[(long["dataset"] == spec) & (long["method"] == "reference")]
        d["reference"] = {n: {"pixel_auroc": _num(v), "interval": _pair(box.get(n))}
                          for n, v in zip(ref["map"], ref["pixel_auroc"])}
        if "knn" in box:
            d["dataset_tests_claim"] = _above(box, "knn", CHANCE["pixel_auroc"])
        d["ssim_minus_l2"] = _diff("ssim", "l2", auc)
        d["ssim_minus_l2_aupro"] = _diff("ssim", "l2", pro)
        d["ssim_beats_l2"] = None if d["ssim_minus_l2"] is None else d["ssim_minus_l2"] > 0
        for vae in ("vae_kl", "vae_rp"):
            gap = _diff(vae, "l2", auc)
            d[f"{vae}_minus_l2"] = gap
            d[f"{vae}_not_better_than_l2"] = None if gap is None else gap <= VAE_MARGIN
        finite = {m: v for m, v in auc.items() if v is not None}
        d["ssim_best"] = (None if "ssim" not in finite
                          else finite["ssim"] == max(finite.values()))
        cross = long[(long["dataset"] == spec).to_numpy() & _is_cross(long)]
        d["cross_pixel_auroc"] = {f"{m}/{n}": _num(v) for m, n, v in
                                  zip(cross["method"], cross["map"], cross["pixel_auroc"])}
        for kind, aucs in (kinds or {}).get(spec, {}).items():
            d[f"pixel_auroc_{kind}"] = aucs
            d[f"ssim_minus_l2_{kind}"] = _diff("ssim", "l2", aucs)
        out["datasets"][spec] = d
    diffs = [d["ssim_minus_l2"] for d in out["datasets"].values() if d["ssim_minus_l2"] is not None]
    out["summary"] = {
        "n_datasets": len(out["datasets"]),
        "n_ssim_beats_l2": sum(bool(d["ssim_beats_l2"]) for d in out["datasets"].values()),
        "n_ssim_beats_l2_holds": sum(bool(d.get("ssim_beats_l2_holds"))
                                     for d in out["datasets"].values()),
        "models_trained": _trained_count(long),
        "mean_ssim_minus_l2": round(sum(diffs) / len(diffs), 4) if diffs else None,
        "n_vae_kl_not_better_than_l2": sum(bool(d["vae_kl_not_better_than_l2"])
                                           for d in out["datasets"].values()),
        "n_vae_rp_not_better_than_l2": sum(bool(d["vae_rp_not_better_than_l2"])
                                           for d in out["datasets"].values()),
        "published_headline": {**published.HEADLINE, "source": published.HEADLINE_SOURCE}}
    return out


def _pair(bound):
    return None if bound is None else [round(bound[0], 4), round(bound[1], 4)]


def _trained_count(long: pd.DataFrame) -> str | None:
    """'trained / all' models over the datasets, one count per (method, seed): the l2-AE
    and SSIM-AE rows of MAPS and the VAE once (its two maps share a model)."""
    rows = _main(long)
    rows = rows[rows["map"] != "vae_kl"]
    if "n_trained" not in rows or rows["n_trained"].isna().all():
        return None
    return f"{int(rows['n_trained'].sum())}/{int(rows['n_seeds'].sum())}"


def _trainedness_md(long: pd.DataFrame) -> list[str]:
    """Did each model learn? Means over seeds of its validation R^2 and its loss against
    the best constant patch's (evaluation/trainedness.py)."""
    rows = _main(long)
    rows = rows[rows["map"] != "vae_kl"]
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
        name = METHODS[r["method"]].label
        ratio = r.get("fit_nll_gain") if r["method"] == "vae" else r.get("fit_loss_ratio")
        units = _fmt(r.get("fit_active_units")) if r["method"] == "vae" else ""
        md.append(f"| {r['dataset']} | {name} | {int(r['n_trained'])}/{int(r['n_seeds'])} | "
                  f"{_fmt(r.get('fit_r2'))} | {_fmt(ratio)} | {units} |")
    return md + [""]


def _reference_md(long: pd.DataFrame) -> list[str]:
    """The controls: detectors that learn nothing by gradient descent."""
    ref = long[long["method"] == "reference"]
    if ref.empty:
        return []
    md = ["## Controls: can this dataset's defects be found at all?", "",
          "Two detectors that learn nothing by gradient descent (evaluation/reference.py). "
          "The nearest-training-patch distance is the upper reference: where it is not "
          "above chance, the dataset does not test the paper's claim; where it succeeds "
          "and an autoencoder does not, the autoencoder is the weak part. The naive "
          "intensity detector is the lower reference. Pixel ROC AUC [95 % interval over "
          "test images] / AUPRO.", "",
          *_auc_aupro_rows(ref, REFERENCE, lambda row: _cell(row, "pixel_auroc"))]
    return md + [""]


def _auc_aupro_rows(rows: pd.DataFrame, columns: dict, auc) -> list[str]:
    """A Markdown table: a row per dataset, a column per (method, map) of ``columns``
    (header: its label), each cell 'pixel AUC / AUPRO' with the AUC written by ``auc``."""
    md = ["| dataset | " + " | ".join(columns.values()) + " |",
          "|---" + "|---:" * len(columns) + "|"]
    for spec, group in rows.groupby("dataset", sort=False):
        cells = []
        for method, name in columns:
            hit = group[(group["method"] == method) & (group["map"] == name)]
            cells.append(f"{auc(hit.iloc[0].to_dict())} / {_fmt(float(hit['aupro_30'].iloc[0]))}"
                         if len(hit) else "n/a")
        md.append(f"| {spec} | " + " | ".join(cells) + " |")
    return md


def pro_at_threshold(maps, masks, has_mask, threshold: float) -> float:
    """[MVTec AD]'s per-region overlap at one threshold: over every 8-connected defect region
    of the images with masks, the mean share of its pixels with ``map > threshold``."""
    from evaluation.metrics import connected_regions

    keep = np.asarray(has_mask, bool)
    regions, n = connected_regions(np.asarray(masks, bool)[keep])
    if not n:
        return math.nan
    hit = np.bincount(regions[np.asarray(maps)[keep] > threshold], minlength=n + 1)[1:]
    return float(np.mean(hit / np.bincount(regions.ravel())[1:]))


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


def mvtec_beside_ours(ctx, long: pd.DataFrame) -> list[str]:
    """For every dataset that is an MVTec AD texture category (published.mvtec_category):
    [MVTec AD] Table 3's AE(l2) and AE(SSIM) beside this run's l2-AE and SSIM-AE, the same
    columns for both where they exist, and the definitions. [] where there is none."""
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
        folder = ctx.eval_dir(spec)
        info = {}
        if (folder / "run.json").exists():
            info = json.loads((folder / "run.json").read_text())
        pro = {}
        if (folder / "maps.npz").exists():
            with np.load(folder / "maps.npz", allow_pickle=False) as z:
                for name in ("l2", "ssim"):
                    if name in z.files and f"threshold_{name}" in z.files:
                        pro[name] = pro_at_threshold(z[name], z["masks"], z["has_mask"],
                                                     float(z[f"threshold_{name}"]))
        size = info.get("image_size")
        profile = info.get("profile") or {}
        md += [f"### {category} (`{spec}`)", "",
               f"This run: images {'x'.join(map(str, size)) if size else 'of unrecorded size'}"
               f" ({(info.get('image_size_rule') or {}).get('rule', 'rule not recorded')}), "
               f"windows at stride {profile.get('stride', 'n/a')}, profile "
               f"{profile.get('name', 'n/a')}; {_test_set_note(info)}.", "",
               "| model | source | pixel ROC AUC | per-region overlap at val. threshold "
               "| AUPRO (FPR <= 0.3) |", "|---|---|---:|---:|---:|"]
        for method, theirs in (("l2_ae", "AE (l2)"), ("ssim_ae", "AE (SSIM)")):
            name, label = METHODS[method].main_map, METHODS[method].label
            their_pro, their_auc = published.MVTEC_TEXTURES[category][theirs]
            md.append(f"| {theirs} | [MVTec AD] Table 3 | {their_auc:.2f} | {their_pro:.2f} "
                      "| not reported |")
            hit = long[(long["dataset"] == spec) & (long["method"] == method) & (long["map"] == name)]
            if len(hit) and math.isfinite(hit["pixel_auroc"].iloc[0]):
                row = hit.iloc[0].to_dict()
                md.append(f"| {label} | this run | {_cell(row, 'pixel_auroc')} | "
                          f"{_fmt(pro.get(name))} (first seed) | {_cell(row, 'aupro_30')} |")
            else:
                md.append(f"| {label} | this run | not evaluated | n/a | n/a |")
        md.append("")
    return md


def run(ctx) -> list[Path]:
    ctx.out.mkdir(parents=True, exist_ok=True)
    long, bounds = collect(ctx)
    if long.empty:
        raise RuntimeError("table_auc: no metrics.csv found for any dataset of this run: "
                           "run the evaluation first")
    csv_path, md_path, claims_path = (ctx.out / "table_auc.csv", ctx.out / "table_auc.md",
                                      ctx.out / "claims.json")
    atomic_write_text(csv_path, long.to_csv(index=False, float_format="%.4f"))
    md = ["# Results: anomaly maps x datasets", "",
          "Pixel-level metrics pooled over all test images with masks (the paper's "
          "protocol: every pixel one sample). Each cell: the mean over the training seeds "
          "± their standard deviation; for the pixel ROC AUC also [the 95 % interval of "
          "that mean, resampling test images and seeds] (evaluation/uncertainty.py); "
          "'(k/n trained)' where not every seed's model learned more than a constant "
          "output (evaluation/trainedness.py): its numbers measure an untrained model. "
          "Bold: the map that leads its dataset's pixel ROC AUC by more than the "
          "uncertainty (the 95 % interval of its difference from the second-best map lies "
          "above 0, its own interval above chance, and all its models trained). The other "
          "metrics have no interval over test images, so nothing in them is bold. Chance: "
          "0.5 for pixel and image ROC AUC, 0.15 for AUPRO. "
          "Source: `<eval>/metrics.csv` of each dataset (evaluation/metrics.py).", "",
          *[_wide(long, m, t, bounds) for m, t in PIXEL_METRICS],
          "## Image-level detection and segmentation at the validation threshold", "",
          "Image ROC AUC: an image's score is the maximum of its smoothed map. IoU and F1: "
          "segmentation `map > threshold`, the threshold chosen on defect-free validation "
          "images only. 'F1 oracle' picks the threshold on the test set: an upper bound, "
          "not a result.", "",
          *[_wide(long, m, t, bounds) for m, t in SEGMENT_METRICS]]
    cross = long[_is_cross(long)]
    if len(cross):
        md += ["## Loss or residual? Each autoencoder scored with the other residual", "",
               "Pixel ROC AUC / AUPRO. With the main table: the l2-AE and SSIM-AE columns "
               "there are each model with its own residual.", "",
               *_auc_aupro_rows(cross, CROSS, lambda row: _fmt(row["pixel_auroc"])), ""]
    md += _trainedness_md(long) + _reference_md(long)
    kinds = {spec: by_kind(ctx, spec) for spec in long["dataset"].unique()}
    if any(kinds.values()):
        labels = [m.label for m in MAPS.values()]
        md += ["## Pixel ROC AUC by defect kind", "",
               "Each over the defect-free test images plus the defective ones of one kind: "
               "structural defects change the texture's structure but hardly its grey "
               "values (the paper's case against per-pixel residuals); intensity defects "
               "change grey values. Computed from maps.npz with evaluation/metrics.py.", "",
               "| dataset | defects | " + " | ".join(labels) + " |",
               "|---|---" + "|---:" * len(labels) + "|"]
        for spec, per_kind in kinds.items():
            for kind, aucs in per_kind.items():
                cells = [_fmt(aucs.get(m)) for m in MAPS]  # first seed, no interval: no bold
                md.append(f"| {spec} | {kind} | " + " | ".join(cells) + " |")
        md.append("")
    md += mvtec_beside_ours(ctx, long)
    md.append(published.markdown())
    atomic_write_text(md_path, "\n".join(md))
    found = claims(long, kinds, bounds)
    atomic_write_text(claims_path, json.dumps(found, indent=2, allow_nan=False) + "\n")
    for spec, d in found["datasets"].items():
        ctx.log(f"table_auc: {spec}: pixel AUC l2 {_fmt(d['pixel_auroc']['l2'])}, "
                f"SSIM {_fmt(d['pixel_auroc']['ssim'])}, VAE KL {_fmt(d['pixel_auroc']['vae_kl'])}, "
                f"VAE RP {_fmt(d['pixel_auroc']['vae_rp'])}")
    return [csv_path, md_path, claims_path]
