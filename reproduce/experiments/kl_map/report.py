"""kl_map, its files: the table (markdown and csv), the figure, and the conclusions, each
sentence computed from the measured numbers (measure.py), none written in advance.

A model's defective windows differ from its defect-free ones by d = (their mean) - (the
defect-free windows' mean) in the KL and in each part (d KL = d mean part + d variance
part), and rank against them by a window AUROC of the KL and of each part. The KL's
ranking "follows" a part when that part's AUROC lies on the same side of 0.5 as the KL's
(``follows``): both parts, or one of them while the other ranks the other way.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from files import atomic_write_text
from reproduce.experiments.kl_map.measure import ALL, CLEAN, CONTRASTS, NOISE, PROBE_WINDOWS, SHARE
from reproduce.plotting import pyplot, save_figure

TOLERANCE = 0.01  # nats: the float32 placement check's bound (float32 rounding of ~200 nats)
PART_NAMES = {"mean_part": "mean part", "var_part": "variance part"}
CSV_COLUMNS = ("dataset", "seed", "cache_key", "kind", "windows", "kl", "mean_part", "var_part",
               "std", "r2", "auroc_kl", "auroc_neg_std", "auroc_mean_part", "auroc_var_part",
               "rho_kl_std", "rho_mean_part_r2", "rho_var_part_r2")


def differences(entry: dict) -> dict:
    """d (all defective windows minus the defect-free ones) of each column, the
    all-defective row, and which part the KL's ranking follows (``follows``)."""
    rows = {row["kind"]: row for row in entry["summary"]}
    clean, defective = rows[CLEAN], rows[ALL]
    d = {k: defective[k] - clean[k] for k in ("kl", "mean_part", "var_part", "std", "r2")}
    return {"d": d, "row": defective, "clean": clean, "follows": follows(defective)}


def follows(row: dict) -> str:
    """Which part the KL's window ranking follows: "both" where both parts' AUROCs lie on
    the KL's side of 0.5, else the part that does (the other ranks the other way);
    "neither" where neither does, "-" where the AUROCs are missing."""
    side = lambda key: np.sign(row.get(key, np.nan) - 0.5)  # noqa: E731
    kl = side("auroc_kl")
    if not np.isfinite(kl) or kl == 0:
        return "-"
    with_kl = [k for k in PART_NAMES if side(f"auroc_{k}") == kl]
    return {2: "both", 1: with_kl[0] if with_kl else "", 0: "neither"}[len(with_kl)]


def _follows_text(x: dict) -> str:
    part = x["follows"]
    if part in PART_NAMES:
        other = next(k for k in PART_NAMES if k != part)
        return f"{PART_NAMES[part]} ({PART_NAMES[other]} against)"
    return {"both": "both parts"}.get(part, part)


def _f(value, digits=2, sign=False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _model(entry) -> str:
    return f"{entry['dataset']} seed {entry['seed']}"


def placement_lines(found) -> list[str]:
    worst = max(r["abs_diff"] for e in found for r in e["placement"])
    worst_run = max(r["abs_diff"] for e in found for r in e["placement_as_run"])
    checks = sum(len(e["placement"]) for e in found)
    lines = ["## 1. The map against a hand computation", "",
             "For the first test image of each kind: the KL map (evaluation/maps.py) at the "
             "defect's centroid (a defect-free image: its centre) against the mean of the "
             "closed-form KL (float64, from the encoder's mu and log-variance) of every window "
             "of the map's grid covering that pixel, each cut from the image by hand.", "",
             "| model | checks | windows covering | largest abs(map - hand), float32 copy | "
             "largest, as run | precision of the run |", "|---|---:|---|---:|---:|---|"]
    for e in found:
        covering = sorted({r["windows"] for r in e["placement"]})
        lines.append(f"| {_model(e)} | {len(e['placement'])} | {', '.join(map(str, covering))} | "
                     f"{max(r['abs_diff'] for r in e['placement']):.1e} | "
                     f"{max(r['abs_diff'] for r in e['placement_as_run']):.2g} | "
                     f"{e['precision']} |")
    verdict = ("the map is placed and averaged as specified" if worst <= TOLERANCE else
               f"the map DISAGREES with the hand computation (bound {TOLERANCE} nats)")
    return lines + ["", f"Over {checks} checks on {len(found)} models the largest difference is "
                    f"{worst:.1e} nats in float32 ({worst_run:.2g} as run): {verdict}. Each "
                    "check's numbers are in run.json (``placement``, ``placement_as_run``).", ""]


def model_table(found) -> list[str]:
    lines = ["## 2. Defective against defect-free windows", "",
             f"Every window of the map's grid in every test image; defective: at least "
             f"{SHARE:.0%} of its pixels in the defect mask; against the windows of the "
             "defect-free test images. AUROC is window-level (above 0.5: defective windows "
             "score higher); -std: lower contrast scores higher; d: defective mean minus "
             "defect-free mean; pixel AUROC: the KL map's in the evaluation (metrics.csv).", "",
             "| model | pixel AUROC | defective windows | AUROC KL | AUROC mean part | AUROC "
             "variance part | AUROC -std | d KL | d mean part | d variance part | d std | d R^2 "
             "| ranking follows |", "|---|" + "---:|" * 11 + "---|"]
    for e in found:
        x = differences(e)
        r, d = x["row"], x["d"]
        lines.append(
            f"| {_model(e)} | {_f(e.get('pixel_auroc'))} | {r['windows']} | {_f(r['auroc_kl'])} | "
            f"{_f(r['auroc_mean_part'])} | {_f(r['auroc_var_part'])} | {_f(r['auroc_neg_std'])} | "
            f"{_f(d['kl'], 1, True)} | {_f(d['mean_part'], 1, True)} | "
            f"{_f(d['var_part'], 1, True)} | {_f(d['std'], 3, True)} | {_f(d['r2'], 2, True)} | "
            f"{_follows_text(x)} |")
    lines.append("")
    for e in found:
        lines += [f"**{_model(e)}** ({e['folder']})", "",
                  "| kind | windows | KL | mean part 0.5 abs(mu)^2 | variance part | std | R^2 | "
                  "AUROC KL | AUROC -std | AUROC mean part | AUROC variance part |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in e["summary"]:
            lines.append(f"| {r['kind']} | {r['windows']} | {_f(r['kl'], 1)} | "
                         f"{_f(r['mean_part'], 1)} | {_f(r['var_part'], 1)} | {_f(r['std'], 3)} | "
                         f"{_f(r['r2'])} | {_f(r.get('auroc_kl'))} | "
                         f"{_f(r.get('auroc_neg_std'))} | {_f(r.get('auroc_mean_part'))} | "
                         f"{_f(r.get('auroc_var_part'))} |")
        lines.append("")
    return lines


def probe_table(found) -> list[str]:
    names = [p["probe"] for p in found[0]["probes"]]
    lines = ["## 3. Probes on defect-free validation windows", "",
             f"Up to {PROBE_WINDOWS} windows of the map's grid in the validation images (drawn "
             "once per dataset), their contrast scaled about their mean by c (0: flat), and "
             "white noise with each window's mean and std; clipped to [0, 1]. Mean KL / mean "
             "part / variance part (nats).", "",
             "| model | windows | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for e in found:
        cells = [f"{p['kl']:.1f} / {p['mean_part']:.1f} / {p['var_part']:.1f}" for p in e["probes"]]
        lines.append(f"| {_model(e)} | {e['probes'][0]['windows']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _probe(entry, name):
    return next(p for p in entry["probes"] if p["probe"] == name)


def _range(values, digits=2, sign=False) -> str:
    lo, hi = min(values), max(values)
    return _f(lo, digits, sign) if f"{lo:.{digits}f}" == f"{hi:.{digits}f}" else \
        f"{_f(lo, digits, sign)} to {_f(hi, digits, sign)}"


def conclusions(found) -> list[str]:
    """What the numbers support, each sentence from them: over all models, then per
    dataset."""
    xs = [differences(e) for e in found]
    n = len(found)
    below = sum(x["row"]["auroc_kl"] < 0.5 for x in xs)
    worst = max(r["abs_diff"] for e in found for r in e["placement"])
    lines = ["## What the numbers say", "",
             f"- Placement: the map equals the hand computation to {worst:.1e} nats (float32)"
             + (": its ranking is not a defect of its placement." if worst <= TOLERANCE
                else f", more than {TOLERANCE} nats: the map is NOT what it should be."),
             f"- The KL ranks defective windows below defect-free ones (window AUROC < 0.5) in "
             f"{below} of {n} models."]
    for spec in dict.fromkeys(e["dataset"] for e in found):
        pairs = [(e, x) for e, x in zip(found, xs) if e["dataset"] == spec]
        lines.append(_dataset_line(spec, pairs))
    return lines + [""]


def _dataset_line(spec, pairs) -> str:
    """One dataset's models, one bullet: the KL's ranking and which part it follows, the
    means, contrast and R^2, the probes."""
    n = len(pairs)
    auc = lambda key: [x["row"][key] for _, x in pairs]  # noqa: E731
    d = lambda key: [x["d"][key] for _, x in pairs]  # noqa: E731
    clean = lambda key: [x["clean"][key] for _, x in pairs]  # noqa: E731
    pixel = [e["pixel_auroc"] for e, _ in pairs if e.get("pixel_auroc") is not None]
    counts = {k: sum(x["follows"] == k for _, x in pairs) for k in ("both", *PART_NAMES)}
    follow = "; ".join(f"{'both parts' if k == 'both' else 'the ' + PART_NAMES[k] + ' alone'} "
                       f"in {c}" for k, c in counts.items() if c) or "neither part"
    probe = lambda e, name, key: _probe(e, name)[key]  # noqa: E731
    flat, one = f"contrast {CONTRASTS[0]:g}", "contrast 1"

    def share(e, name):  # of the mean part at contrast 1
        return probe(e, name, "mean_part") / max(probe(e, one, "mean_part"), 1e-12)

    keep = [share(e, flat) for e, _ in pairs]
    noise = [share(e, NOISE) for e, _ in pairs]
    var_flat = [probe(e, flat, "var_part") - probe(e, one, "var_part") for e, _ in pairs]
    return "\n".join([
        f"- **{spec}** ({n} model{'s' * (n > 1)})",
        f"  - ranking: window AUROC of the KL {_range(auc('auroc_kl'))}"
        + (f" (the map's pixel AUROC {_range(pixel)})" if pixel else "")
        + f", of the mean part {_range(auc('auroc_mean_part'))}, of the variance part "
        f"{_range(auc('auroc_var_part'))}: the KL's ranking follows {follow} (of {n}).",
        f"  - means: d KL {_range(d('kl'), 1, True)} nats = d mean part "
        f"{_range(d('mean_part'), 1, True)} + d variance part {_range(d('var_part'), 1, True)}.",
        f"  - contrast and structure: d std {_range(d('std'), 3, True)} (window AUROC of -std "
        f"{_range(auc('auroc_neg_std'))}); d R^2 {_range(d('r2'), 2, True)}; Spearman's rho of "
        f"the KL and std on defect-free windows {_range(clean('rho_kl_std'), 2, True)}, of the "
        f"mean part and R^2 over every window {_range(clean('rho_mean_part_r2'), 2, True)}, of "
        f"the variance part and R^2 {_range(clean('rho_var_part_r2'), 2, True)}.",
        f"  - probes: a flat window keeps {_range([100 * k for k in keep], 0)} % of the mean "
        f"part of the window as it is, white noise with its mean and std "
        f"{_range([100 * k for k in noise], 0)} %; the variance part of a flat window minus "
        f"the window's own: {_range(var_flat, 1, True)} nats."])


def write(root: Path, found, profile: dict) -> list[Path]:
    rows = [{"dataset": e["dataset"], "seed": e["seed"], "cache_key": e["cache_key"], **r}
            for e in found for r in e["summary"]]
    table = pd.DataFrame(rows).reindex(columns=CSV_COLUMNS)
    atomic_write_text(root / "table_kl_map.csv", table.to_csv(index=False, float_format="%.6g"))
    keys = ", ".join(f"{_model(e)}: {e['folder']}" + ("" if e["current_code_key"] else
                                                      " (not the current code's key)")
                     for e in found)
    head = ["# The VAE's KL map explained", "",
            f"Models: {keys}. Map grid: {profile['kl_stride']} px stride (profile "
            f"{profile.get('name', '?')}'s kl_stride). Test images: every image of the "
            "evaluation; probes: the validation images. fig_kl_map.png draws sections 2 and 3.", ""]
    text = (head + placement_lines(found) + model_table(found) + probe_table(found)
            + conclusions(found))
    atomic_write_text(root / "table_kl_map.md", "\n".join(text).rstrip("\n") + "\n")
    figure(found, root / "fig_kl_map.png")
    return [root / name for name in ("table_kl_map.md", "table_kl_map.csv", "fig_kl_map.png")]


def figure(found, path: Path) -> None:
    """Top: per model, window AUROC of the KL and its parts. Bottom: the probes, each
    quantity minus its value at contrast 1, against contrast; x: white noise."""
    plt = pyplot()
    fig = plt.figure(figsize=(12, 8), layout="constrained")
    grid = fig.add_gridspec(2, 3, height_ratios=(1, 1.1))
    top = fig.add_subplot(grid[0, :])
    labels = [f"{e['dataset']}\nseed {e['seed']}" for e in found]
    keys = (("auroc_kl", "KL", "tab:green"),
            ("auroc_mean_part", r"mean part $0.5\,|\mu|^2$", "tab:blue"),
            ("auroc_var_part", "variance part", "tab:orange"),
            ("auroc_neg_std", "-std (contrast)", "0.6"))
    width = 0.8 / len(keys)
    for k, (key, name, colour) in enumerate(keys):
        values = [differences(e)["row"][key] for e in found]
        top.bar(np.arange(len(found)) + (k - (len(keys) - 1) / 2) * width, values, width,
                color=colour, label=name)
    top.axhline(0.5, color="black", lw=0.8, ls="--", label="chance")
    top.set(xticks=np.arange(len(found)), ylim=(0, 1),
            ylabel="window AUROC\n(defective vs defect-free)",
            title=f"Windows of the map's grid with >= {SHARE:.0%} defect pixels against the "
                  "defect-free test images' windows")
    top.set_xticklabels(labels, fontsize=8)
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    x_noise = CONTRASTS[-1] + 0.5
    colours = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "black")
    datasets = list(dict.fromkeys(e["dataset"] for e in found))
    for j, (key, name) in enumerate((("kl", "KL"), ("mean_part", r"mean part $0.5\,|\mu|^2$"),
                                     ("var_part", "variance part"))):
        ax = fig.add_subplot(grid[1, j])
        for e in found:
            at_one = _probe(e, "contrast 1")[key]
            curve = [p for p in e["probes"] if p["probe"] != NOISE]
            style = dict(color=colours[datasets.index(e["dataset"]) % len(colours)],
                         ls=("-", "--", ":", "-.")[e["seed"] % 4], marker="o", ms=3)
            ax.plot([p["contrast"] for p in curve], [p[key] - at_one for p in curve],
                    label=_model(e), **style)
            ax.plot([x_noise], [_probe(e, NOISE)[key] - at_one], "x", ms=7, mew=1.5,
                    color=style["color"])
        ax.axhline(0, color="0.7", lw=0.8)
        ax.set_xticks(list(CONTRASTS) + [x_noise])
        ax.set_xticklabels([f"{c:g}" for c in CONTRASTS] + ["noise"], fontsize=8)
        ax.set(xlabel="contrast c of the window (1: as it is, 0: flat)",
               ylabel=f"{name} minus its value at c = 1 (nats)", title=f"Probes: {name}")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(6, len(found)), fontsize=8)
    fig.suptitle("The VAE's KL map: which part of KL(Q(z|x) || N(0, I)) ranks the defects "
                 "(top), and what moves each part (bottom; x: white noise with the window's "
                 "mean and std)", fontsize=10)
    save_figure(fig, path, dpi=110)
