"""``bf16-check``: does bfloat16 change the results? The evidence behind ``precision: auto``.

``python -m reproduce bf16-check`` (also answers to ``precision``) compares, map by map,
two complete runs whose training and evaluation differ only in their arithmetic.

The default run (``OUT/eval/<dataset>``, every method with every training seed of the
profile) is compared with a companion run that differs in one thing only, the precision:
float32 where the default run used bf16, or bf16 where it used float32. The companion's
evaluations go to ``OUT/extra/<precision>_default/eval/<dataset>``; the command trains
and evaluates them when they are missing (about as long again as the default run), and
otherwise only reads them.

Both runs train different models (a bf16 model is not a float32 model), so the question
is whether the difference between the runs is larger than what another set of training
seeds moves. For each dataset and map:

- pixel AUROC: the difference of the seed means (bf16 - float32) with a 95 % interval from
  a two-level bootstrap (evaluation/uncertainty.py): each replicate draws the test images
  once for both runs (paired), and each run's seeds with replacement;
- AUPRO and image AUROC: the difference of the seed means with its standard error over
  seeds (no per-image data exists for them).

bf16 is *within noise* for a map when the pixel-AUROC interval contains 0 (or the
difference is under ``FLOOR``, 0.01) and the AUPRO difference is under
max(1.96 standard errors, ``FLOOR``). Writes ``bf16_check.md`` and ``bf16_check.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from errors import InputError
from evaluation.uncertainty import paired_difference
from files import atomic_write_text
from methods import MAPS, own_maps
from reproduce.context import folder_name
from reproduce.provenance import provenance

METRICS = ("pixel_auroc", "aupro_30", "image_auroc")
FLOOR = 0.01
OTHER = {"bf16": "float32", "float32": "bf16"}


def companion_root(out: Path, precision: str) -> Path:
    """Where the companion run in ``precision`` keeps its evaluations."""
    return Path(out) / "extra" / f"{precision}_default"


def _read(folder: Path):
    """An evaluation folder's metrics (rows of the model maps), histograms, run.json and
    its test images' bootstrap units (None where the folder predates them)."""
    metrics = pd.read_csv(folder / "metrics.csv")
    metrics = metrics[[name in own_maps(method) for method, name in
                       zip(metrics["method"], metrics["map"])]]  # each map of its own model
    with np.load(folder / "histograms.npz") as z:
        hist = {name: z[f"{m.method}__{name}"] for name, m in MAPS.items()
                if f"{m.method}__{name}" in z.files}
        groups = z["groups"] if "groups" in z.files else None  # evaluation/uncertainty.py
    return metrics, hist, json.loads((folder / "run.json").read_text()), groups


def _mean_se(values: pd.Series):
    v = values.to_numpy(float)
    return float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def compare(bf16_folder: Path, float32_folder: Path) -> list[dict]:
    """One row per map of one dataset: both runs' seed means and trained counts, the
    differences with their uncertainty, and the verdict."""
    (mb, hb, rb, groups), (mf, hf, rf, _) = _read(bf16_folder), _read(float32_folder)
    if len(np.atleast_1d(rb["test_images"])) != len(np.atleast_1d(rf["test_images"])) or \
            rb.get("dataset_source") != rf.get("dataset_source"):
        raise InputError(f"{bf16_folder} and {float32_folder} were not evaluated on the same data")
    rows = []
    for name, m in MAPS.items():
        b, f = mb[mb["map"] == name], mf[mf["map"] == name]
        if b.empty or f.empty:
            continue
        row = {"map": name, "label": m.label, "seeds_bf16": len(b), "seeds_float32": len(f),
               "trained_bf16": int(b["fit_trained"].astype(bool).sum()),
               "trained_float32": int(f["fit_trained"].astype(bool).sum())}
        for metric in METRICS:
            (xb, se_b), (xf, se_f) = _mean_se(b[metric]), _mean_se(f[metric])
            row.update({f"{metric}_bf16": xb, f"{metric}_float32": xf, f"{metric}_diff": xb - xf,
                        f"{metric}_diff_se": float(np.hypot(se_b, se_f))})
        diff, (low, high) = paired_difference(hb[name], hf[name], groups)
        row.update({"pixel_auroc_hist_diff": diff, "pixel_auroc_diff_interval": [low, high]})
        auroc_ok = (low <= 0 <= high) or abs(row["pixel_auroc_diff"]) < FLOOR
        aupro_ok = abs(row["aupro_30_diff"]) < max(1.96 * row["aupro_30_diff_se"], FLOOR)
        row.update({"pixel_auroc_within_noise": bool(auroc_ok), "aupro_30_within_noise": bool(aupro_ok),
                    "within_noise": bool(auroc_ok and aupro_ok)})
        rows.append(row)
    return rows


def _seconds(info: dict) -> float | None:
    """Training seconds of an evaluation's models, from the model cache (None if gone)."""
    total = 0.0
    for folder in info["models"].values():
        path = Path(folder) / "run.json"
        if not path.exists():
            return None
        total += json.loads(path.read_text())["train_seconds"]
    return total


def summarise(out: Path, datasets) -> dict:
    """The comparison of the default run (``out/eval``) with its companion, as a dict."""
    out = Path(out)
    first = json.loads((out / "eval" / folder_name(datasets[0]) / "run.json").read_text())
    default = first["profile"]["precision"]
    roots = {default: out / "eval", OTHER[default]: companion_root(out, OTHER[default]) / "eval"}
    result = {"default_precision": default, "profile": first["profile"]["name"],
              "folders": {p: str(r) for p, r in roots.items()}, "datasets": {}, "train_seconds": {}}
    for spec in datasets:
        folders = {p: roots[p] / folder_name(spec) for p in roots}
        result["datasets"][spec] = compare(folders["bf16"], folders["float32"])
        result["train_seconds"][spec] = {
            p: _seconds(json.loads((folders[p] / "run.json").read_text())) for p in folders}
    result["safe"] = all(row["within_noise"] for rows in result["datasets"].values() for row in rows)
    return result


def run(out: Path, datasets, profile_name: str | None = None, log=print) -> dict:
    """Train and evaluate the companion where it is missing (with the default run's recorded
    profile, precision changed), then compare and write."""
    from reproduce.evaluate import evaluate  # imports TensorFlow
    out = Path(out)
    for spec in datasets:
        path = out / "eval" / folder_name(spec) / "run.json"
        if not path.exists():
            raise InputError(f"no default run of {spec} in {out / 'eval'}: run ./run_all.sh "
                             f"--out {out} first (the comparison is against it)")
        run = json.loads(path.read_text())
        profile = run["profile"]
        if profile_name and profile["name"] != profile_name:
            raise InputError(f"the run in {out} used profile {profile['name']!r}, not {profile_name!r}")
        if stale(run, spec, profile):
            raise InputError(f"the default run of {spec} in {out / 'eval'} was trained by other "
                             f"model code or settings than this checkout's: run ./run_all.sh "
                             f"--out {out} again first")
        other = OTHER[profile["precision"]]
        folder = companion_root(out, other) / "eval" / folder_name(spec)
        companion = dict(profile, precision=other)
        done = (folder / "run.json").exists()
        if done and stale(json.loads((folder / "run.json").read_text()), spec, companion):
            log(f"bf16-check: the {other} companion in {folder} was trained by other model code "
                "or settings: made again")
            done = False
        if not done:
            log(f"bf16-check: the {other} companion of {spec} (every method and seed)")
            evaluate(spec, run["methods"], companion, folder, log=log)
    result = {**summarise(out, datasets), **provenance()}
    atomic_write_text(out / "bf16_check.json", json.dumps(result, indent=2, default=str))
    atomic_write_text(out / "bf16_check.md", markdown(result))
    return result


def stale(run: dict, spec: str, profile: dict) -> bool:
    """True where an evaluation's models (its run.json ``models``: ``method/seedN`` ->
    cache folder) are not those this checkout trains with ``profile`` (reproduce/cache.py:
    the folder name carries the model key, which hashes the model code and settings)."""
    from reproduce.cache import model_dir
    for tag, path in run.get("models", {}).items():
        method, seed = tag.split("/seed")
        expected = model_dir(spec, int(seed), method, profile, data_seed=profile["seeds"][0])
        if Path(path).name != expected.name:
            return True
    return False


def markdown(r: dict) -> str:
    other = OTHER[r["default_precision"]]
    lines = ["# Precision: bfloat16 against float32", "",
             f"Written by `python -m reproduce bf16-check` (reproduce/bf16_check.py). The default run "
             f"({r['default_precision']}, `{r['folders'][r['default_precision']]}`) against its "
             f"companion in {other} (`{r['folders'][other]}`): same profile ({r['profile']}), data and "
             "training seeds, different precision, so different models. Values are seed means; "
             "differences are bf16 - float32. Pixel AUROC's interval is a 95 % two-level bootstrap "
             "over test images (paired) and each run's seeds; AUPRO's and image AUROC's ± is one "
             "standard error over seeds. bf16 is within noise for a map when the pixel-AUROC "
             f"interval contains 0 (or |difference| < {FLOOR}) and |AUPRO difference| < "
             f"max(1.96 SE, {FLOOR}).", ""]
    for spec, rows in r["datasets"].items():
        lines += [f"## {spec}", "",
                  "| map | trained bf16 / float32 | pixel AUROC bf16 | float32 | difference [95 % interval] "
                  "| AUPRO bf16 | float32 | difference ± SE | image AUROC difference ± SE | within noise |",
                  "|---|---|---:|---:|---|---:|---:|---|---|---|"]
        for row in rows:
            low, high = row["pixel_auroc_diff_interval"]
            lines.append(
                f"| {row['label']} | {row['trained_bf16']}/{row['seeds_bf16']} / "
                f"{row['trained_float32']}/{row['seeds_float32']} | {row['pixel_auroc_bf16']:.3f} | "
                f"{row['pixel_auroc_float32']:.3f} | {row['pixel_auroc_diff']:+.3f} [{low:+.3f}, {high:+.3f}] | "
                f"{row['aupro_30_bf16']:.3f} | {row['aupro_30_float32']:.3f} | "
                f"{row['aupro_30_diff']:+.3f} ± {row['aupro_30_diff_se']:.3f} | "
                f"{row['image_auroc_diff']:+.3f} ± {row['image_auroc_diff_se']:.3f} | "
                f"{'yes' if row['within_noise'] else '**no**'} |")
        secs = r["train_seconds"][spec]
        if all(secs.values()):
            lines += ["", "Training time of all models, as recorded when each was trained (the two "
                      "runs did not run side by side; results/benchmark.md compares speed): "
                      + ", ".join(f"{p} {s:.0f} s" for p, s in secs.items()) + "."]
        lines.append("")
    lines += [f"**Verdict: bf16 is {'within' if r['safe'] else 'NOT within'} run-to-run noise on every "
              "map of every dataset here.**", ""]
    return "\n".join(lines)
