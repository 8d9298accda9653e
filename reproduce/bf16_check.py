"""``precision``: does bfloat16 change the results? The evidence behind ``precision: auto``.

Every dataset is evaluated three times, on the same data and with the same profile
(default ``cpu``), changing one thing at a time:

  float32, training seed 0   the reference (the default run's models, from the cache)
  float32, training seed 1   run-to-run noise: what another seed alone moves
  bf16,    training seed 0   the candidate (Keras mixed_bfloat16: convolutions in bfloat16;
                             outputs, losses, SSIM statistics, KL and maps in float32)

For every map, bf16 is *within noise* when its difference from the reference is no larger
than the seed-to-seed difference of the same map, or than ``FLOOR`` (0.01, the
resolution of AUROC on these test sets), for both pixel AUROC and AUPRO. One second seed
is a thin estimate of the noise; the table shows the numbers so that a reader can judge.

Writes ``precision.md`` and ``precision.json`` into the output folder, and each
evaluation (metrics.csv, run.json, logs) under ``precision/<dataset>_<precision>_seed<k>/``.
"""
from __future__ import annotations

import json
from pathlib import Path

from reproduce import profiles
from reproduce.context import MAPS, folder_name
from reproduce.evaluate import evaluate
from reproduce.profiles import METHODS
from reproduce.provenance import atomic_write_text, provenance
from reproduce.train import native_bf16

VARIANTS = (("float32", 0), ("float32", 1), ("bf16", 0))  # (precision, training seed)
METRICS = ("pixel_auroc", "aupro_30")
FLOOR = 0.01


def _label(spec, precision, seed):
    return f"{folder_name(spec)}_{precision}_seed{seed}"


def compare(rows: list[dict]) -> list[dict]:
    """Per dataset and map: the three runs' metrics, the differences and the verdict."""
    at = {(r["dataset"], r["precision"], r["train_seed"], r["map"]): r for r in rows}
    out = []
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    for spec, name in ((spec, name) for spec in datasets for name in MAPS):
        ref, other, bf16 = (at[(spec, p, s, name)] for p, s in VARIANTS)
        row = {"dataset": spec, "map": name}
        for metric in METRICS:
            noise, delta = other[metric] - ref[metric], bf16[metric] - ref[metric]
            row.update({f"{metric}_float32": ref[metric], f"{metric}_float32_seed1": other[metric],
                        f"{metric}_bf16": bf16[metric], f"{metric}_seed_diff": noise,
                        f"{metric}_bf16_diff": delta,
                        f"{metric}_within_noise": abs(delta) <= max(abs(noise), FLOOR)})
        row["within_noise"] = all(row[f"{m}_within_noise"] for m in METRICS)
        out.append(row)
    return out


def run(out: Path, datasets=("fabric1", "fabric2"), profile_name: str = "cpu", log=print) -> dict:
    base = profiles.get(profile_name)
    rows, seconds = [], {}
    for spec in datasets:
        for precision, seed in VARIANTS:
            label = _label(spec, precision, seed)
            log(f"precision: {spec}, {precision}, training seed {seed}")
            table = evaluate(spec, METHODS, dict(base, precision=precision),
                             out / "precision" / label, log=log, train_seed=seed)
            info = json.loads((out / "precision" / label / "run.json").read_text())
            seconds[label] = sum(json.loads((Path(folder) / "run.json").read_text())["train_seconds"]
                                 for folder in info["models"].values())
            for name, (method, _) in MAPS.items():
                hit = table[(table["method"] == method) & (table["map"] == name)].iloc[0]
                rows.append({"dataset": spec, "precision": precision, "train_seed": seed, "map": name,
                             **{m: float(hit[m]) for m in METRICS}})
    native, how = native_bf16()
    result = {**summarise(base, datasets, rows, seconds, native, how), **provenance()}
    atomic_write_text(out / "precision.json", json.dumps(result, indent=2, default=str))
    atomic_write_text(out / "precision.md", markdown(result))
    return result


def summarise(base: dict, datasets, rows: list[dict], seconds: dict, native: bool, how: str) -> dict:
    """The result (without provenance) from the runs' rows: the comparison and the verdict,
    ``safe`` when every map of every dataset is within noise. What :func:`markdown` reads."""
    comparison = compare(rows)
    return {"profile": base, "datasets": list(datasets), "runs": rows, "comparison": comparison,
            "train_seconds": seconds, "native_bf16": native, "bf16_how": how,
            "safe": all(row["within_noise"] for row in comparison)}


def markdown(r: dict) -> str:
    lines = ["# Precision: float32 against bfloat16", "",
             f"Written by `python -m reproduce precision --profile {r['profile']['name']} "
             f"--datasets {','.join(r['datasets'])}` (reproduce/precision.py): the same data and "
             "profile, trained three times: float32 with training seed 0 (the reference), float32 "
             "with seed 1 (run-to-run noise), bf16 with seed 0. bf16 is within noise for a map when "
             f"|bf16 - float32| <= max(|seed 1 - seed 0|, {FLOOR}) for both pixel AUROC and AUPRO. "
             f"bf16 on this machine: {'native' if r['native_bf16'] else 'emulated'} ({r['bf16_how']}).", ""]
    for spec in r["datasets"]:
        lines += [f"## {spec}", "",
                  "| map | AUROC float32 | seed 1 | bf16 | seed diff | bf16 diff | AUPRO float32 | seed 1 "
                  "| bf16 | seed diff | bf16 diff | within noise |", "|---|" + "---|" * 11]
        for row in (c for c in r["comparison"] if c["dataset"] == spec):
            cells = []
            for m in METRICS:
                cells += [f"{row[f'{m}_float32']:.3f}", f"{row[f'{m}_float32_seed1']:.3f}",
                          f"{row[f'{m}_bf16']:.3f}", f"{row[f'{m}_seed_diff']:+.3f}",
                          f"{row[f'{m}_bf16_diff']:+.3f}"]
            lines.append(f"| {MAPS[row['map']][1]} | " + " | ".join(cells)
                         + f" | {'yes' if row['within_noise'] else '**no**'} |")
        lines += ["", "Training time of the three models (models found in the cache count the time "
                  "they took when they were trained): " + ", ".join(
                      f"{p} seed {k} {r['train_seconds'][_label(spec, p, k)]:.0f} s" for p, k in VARIANTS)
                  + ".", ""]
    lines += [f"**Verdict: bf16 is {'within' if r['safe'] else 'NOT within'} run-to-run noise on every map "
              f"of every dataset here.**", ""]
    return "\n".join(lines)
