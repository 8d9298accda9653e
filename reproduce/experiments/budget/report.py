"""The budget study's figure and table, from the per-dataset folders it has written.

``fig_budget.png``: one column per dataset, a row per method with its validation loss
against updates (the per-epoch curve of curves.csv; a marker at each checkpoint, open
where evaluation/trainedness.py judged the model not trained), and a last row with the
pixel ROC AUC of each method's own maps (methods.py MAPS) at each checkpoint with its
95 % interval over the test images. Updates on a log axis; vertical lines at the default
profile's budget and the paper's. The loss panels' y range covers the curve from half the
first checkpoint on: the first epochs, far above, may leave the panel.

``table_budget.csv`` / ``.md``: the same numbers, one row per dataset x own map x
checkpoint: validation loss, the trainedness numbers (loss ratio or NLL gain, R^2,
trained), pixel ROC AUC with its interval, AUPRO up to FPR 0.3, image AUROC.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from files import atomic_write_text
from methods import MAPS, METHODS
from reproduce import profiles
from reproduce.context import folder_name
from reproduce.plotting import pyplot, save_figure

FLAT = -0.05  # a validation curve has flattened where doubling the updates lowered it by under 5 %
TABLE_COLUMNS = ("dataset", "method", "map", "updates", "patches", "val_loss", "val_loss_change",
                 "fit_loss_ratio",
                 "fit_nll_gain", "fit_r2", "fit_trained", "pixel_auroc", "pixel_auroc_low",
                 "pixel_auroc_high", "aupro_30", "image_auroc")


def reference_budgets() -> list[tuple[int, str, str]]:
    """(updates, short label, long label) of the default profile's training and the
    paper's: epochs x patches per epoch / batch (the paper's 200 x 10,000 / 128 = 15,625;
    the ``paper`` profile's loop makes 200 x 78 = 15,600 whole batches)."""
    out = []
    for name, short in ((profiles.DEFAULT, f"default profile ({profiles.DEFAULT})"), ("paper", "paper")):
        p = profiles.get(name)
        updates = math.ceil(p["epochs"] * p["patches_per_epoch"] / p["batch_size"])
        out.append((updates, short, f"{short}: {updates:,} updates at batch {p['batch_size']}"))
    return out


def shown(root: Path, specs) -> list[str]:
    """The datasets the figure and table show: ``specs`` (this run's) and every other
    dataset folder under ``root`` with checkpoints (an earlier run's part), in the order
    of the default datasets, then by name."""
    from textures import DEFAULT_RUN
    names = {folder_name(s): s for s in specs}
    for folder in sorted(Path(root).glob("*/checkpoints.csv")):
        names.setdefault(folder.parent.name, folder.parent.name)
    order = {folder_name(s): i for i, s in enumerate(DEFAULT_RUN)}
    return [names[n] for n in sorted(names, key=lambda n: (order.get(n, len(order)), n))]


def parts(root: Path, specs) -> dict:
    """For each dataset shown: the checkpoints measured, whether its folder is complete
    (its run.json exists), and the commit, machine and training seconds of that run.json."""
    out = {}
    for spec in shown(root, specs):
        folder = Path(root) / folder_name(spec)
        try:
            done = sorted(int(u) for u in pd.read_csv(folder / "checkpoints.csv")["updates"].unique())
        except (OSError, ValueError, KeyError):
            continue
        part = {"folder": folder.name, "checkpoints_measured": done, "complete": False}
        try:
            info = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            out[spec] = part
            continue
        out[spec] = {**part, "complete": True, "checkpoints": info.get("checkpoints"),
                     "git_commit": info.get("git_commit"), "host": info.get("host"),
                     "train_seconds": info.get("train_seconds")}
    return out


def read_histograms(folder: Path):
    """<folder>/histograms.npz as ({hist_key: (K, 2, bins)}, the test images' ``groups``);
    ({}, None) if there is none."""
    try:
        with np.load(Path(folder) / "histograms.npz") as z:
            return {k: z[k] for k in z.files if k != "groups"}, z["groups"]
    except (OSError, ValueError, KeyError):
        return {}, None


def write_histograms(folder: Path, histograms: dict, groups) -> None:
    import io
    from files import atomic_write_bytes
    buffer = io.BytesIO()
    np.savez_compressed(buffer, groups=np.asarray(groups), **histograms)
    atomic_write_bytes(Path(folder) / "histograms.npz", buffer.getvalue())


LEAD = (("ssim_ae", "ssim"), ("l2_ae", "l2"))  # the paper's claim: SSIM-AE's map minus l2-AE's


def lead(folder: Path, rows: pd.DataFrame) -> list[dict]:
    """The SSIM-AE's pixel ROC AUC minus the l2-AE's at each checkpoint where both maps'
    histograms were recorded, with the 95 % paired interval (evaluation/uncertainty.py
    ``bootstrap``: the test images, or their groups, drawn once for both maps)."""
    from evaluation.uncertainty import paired_difference
    from reproduce.experiments.budget.measure import hist_key
    stored, groups = read_histograms(folder)
    model = {m: rows.loc[rows["method"] == m, "model_key"] for m, _ in LEAD}
    out = []
    for updates in sorted(rows["updates"].unique()):
        keys = [hist_key(model[m].iloc[0], name, updates) if len(model[m]) else None for m, name in LEAD]
        if not all(k in stored for k in keys):
            continue
        a, b = (stored[k] for k in keys)
        _, (low, high) = paired_difference(a[None], b[None], groups)  # one seed
        at = rows[rows["updates"] == updates].set_index(["method", "map"])["pixel_auroc"]
        diff = float(at[LEAD[0]] - at[LEAD[1]])  # the rows' exact AUCs (histograms are binned)
        out.append({"updates": int(updates), "ssim_minus_l2": diff, "low": low, "high": high})
    return out


def read(root: Path, specs) -> dict:
    """{spec: (checkpoints table, curves table)} of every dataset with checkpoints written."""
    found = {}
    for spec in specs:
        folder = root / folder_name(spec)
        try:
            rows = pd.read_csv(folder / "checkpoints.csv")
        except (OSError, ValueError):
            continue
        try:
            curves = pd.read_csv(folder / "curves.csv")
        except (OSError, ValueError):
            curves = pd.DataFrame(columns=["method", "updates", "val_loss"])
        found[spec] = (rows, curves)
    return found


def own_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of each method's own maps (not the cross maps), in MAPS order."""
    own = rows[[MAPS.get(m) is not None and MAPS[m].method == method
                for method, m in zip(rows["method"], rows["map"])]]
    order = {name: i for i, name in enumerate(MAPS)}
    return own.sort_values(["map", "updates"], key=lambda s: s.map(order) if s.name == "map" else s)


def with_change(table: pd.DataFrame) -> pd.DataFrame:
    """``val_loss_change``: the validation loss's change since the model's previous
    checkpoint, relative to its size ((new - old) / |old|: negative where it fell, for the
    VAE's negative ELBO too); NaN at the first. Where the checkpoints double, a change
    above ``FLAT`` says the curve has flattened (the rule the report applies)."""
    table = table.copy()
    previous = table.groupby(["dataset", "map"], sort=False)["val_loss"].shift(1)
    table["val_loss_change"] = (table["val_loss"] - previous) / previous.abs()
    return table


def write(root: Path, specs) -> list[Path]:
    """Figure and table of the datasets of ``specs`` that have checkpoints; [] if none."""
    found = read(root, specs)
    if not found:
        return []
    table = with_change(pd.concat([own_rows(rows) for rows, _ in found.values()]))
    table = table[[c for c in TABLE_COLUMNS if c in table]]
    atomic_write_text(root / "table_budget.csv", table.to_csv(index=False, float_format="%.5g"))
    leads = pd.DataFrame([{"dataset": spec, **row} for spec, (rows, _) in found.items()
                          for row in lead(root / folder_name(spec), rows)],
                         columns=["dataset", "updates", "ssim_minus_l2", "low", "high"])
    atomic_write_text(root / "table_budget_lead.csv", leads.to_csv(index=False, float_format="%.5g"))
    unfinished = [s for s in found if not (root / folder_name(s) / "run.json").exists()]
    atomic_write_text(root / "table_budget.md", markdown(table, unfinished, leads))
    figure(found, root / "fig_budget.png", unfinished)
    return [root / "fig_budget.png", root / "table_budget.md", root / "table_budget.csv",
            root / "table_budget_lead.csv"]


def markdown(table: pd.DataFrame, unfinished=(), leads=None) -> str:
    lines = ["# Budget study: the models at each checkpoint", "",
             "Written by `python -m reproduce all --only budget` (reproduce/experiments/budget/). "
             "Training seed 0, one model per method trained on through the checkpoints. "
             "Validation loss: the training loss on the fixed validation patches; loss ratio "
             "(autoencoders) and NLL gain (VAE, nats per pixel): against the best constant "
             "patch (evaluation/trainedness.py); change: the validation loss's relative change "
             "since the previous checkpoint, '(flat)' where it fell by less than 5 % (or rose); pixel AUROC with its 95 % interval over the "
             "test images (bootstrap); AUPRO up to FPR 0.3.", ""]
    for spec, rows in table.groupby("dataset", sort=False):
        note = " (incomplete: a run is still adding checkpoints)" if spec in unfinished else ""
        lines += [f"## {spec}{note}", "", "| map | updates | patches | val. loss | change | loss ratio / NLL gain "
                  "| R^2 | trained | pixel AUROC [95 %] | AUPRO |", "|---|" + "---:|" * 9]
        for r in rows.itertuples():
            gain = r.fit_nll_gain if METHODS[r.method].fit_columns[0] == "nll_gain" else r.fit_loss_ratio
            lines.append(f"| {MAPS[r.map].label} | {r.updates:,} | {r.patches:,} | {r.val_loss:.4g} "
                         f"| {_change(r.val_loss_change)} | {gain:.3f} | {r.fit_r2:.3f} | {'yes' if r.fit_trained else 'NO'} "
                         f"| {r.pixel_auroc:.3f} [{r.pixel_auroc_low:.3f}, {r.pixel_auroc_high:.3f}] "
                         f"| {r.aupro_30:.3f} |")
        lines.append("")
        mine = leads[leads["dataset"] == spec] if leads is not None else []
        if len(mine):
            lines += ["SSIM-AE - l2-AE, pixel ROC AUC with its paired 95 % interval (checkpoints "
                      "with per-image histograms recorded):", "",
                      "| updates | SSIM-AE - l2-AE [95 %] |", "|---:|---:|"]
            lines += [f"| {r.updates:,} | {r.ssim_minus_l2:+.3f} [{r.low:+.3f}, {r.high:+.3f}] |"
                      for r in mine.itertuples()]
            lines.append("")
    return "\n".join(lines)


def _change(x: float) -> str:
    if not np.isfinite(x):
        return ""
    return f"{100 * x:+.0f} %" + (" (flat)" if x > FLAT else "")


def figure(found: dict, path: Path, unfinished=()) -> None:
    from matplotlib.lines import Line2D
    plt = pyplot()
    methods = [m for m in METHODS if any((rows["method"] == m).any() for rows, _ in found.values())]
    n = len(found)
    fig, grid = plt.subplots(len(methods) + 1, n, figsize=(2.6 * n + 0.6, 1.9 * (len(methods) + 1) + 1.2),
                             squeeze=False, sharex=True, layout="constrained")
    budgets = reference_budgets()
    for column, (spec, (rows, curves)) in enumerate(found.items()):
        for row, method in enumerate(methods):
            _loss_panel(grid[row, column], spec, method, rows, curves)
        if spec in unfinished:
            grid[0, column].annotate("incomplete", (0.02, 1.18), xycoords="axes fraction",
                                     fontsize=6.5, color="firebrick")
        _auroc_panel(grid[-1, column], spec, rows)
        for ax in grid[:, column]:
            for (updates, _, _), ls in zip(budgets, (":", "-.")):
                ax.axvline(updates, color="0.45", ls=ls, lw=0.9)
        for updates, short, _ in budgets:
            grid[0, column].text(updates, 0.98, short + " ", rotation=90, fontsize=5.5,
                                 va="top", ha="right", color="0.3",
                                 transform=grid[0, column].get_xaxis_transform())
    for ax in grid.ravel():
        ax.set_xscale("log")
        ax.tick_params(labelsize=6.5)
        ax.grid(color="0.92", lw=0.5)
    for ax in grid[-1]:
        ax.set_xlabel("updates (log scale)", fontsize=7)
    handles = [Line2D([], [], color=MAPS[m].colour, marker=MAPS[m].marker, ls=MAPS[m].style, ms=4,
                      label=f"{MAPS[m].label}") for m in MAPS if MAPS[m].method in methods]
    handles += [Line2D([], [], color="0.3", marker="o", mfc="white", ls="none", ms=4,
                       label="model judged not trained"),
                Line2D([], [], color="0.3", lw=1, label="validation loss per epoch"),
                *[Line2D([], [], color="0.45", ls=ls, lw=0.9, label=label)
                  for (_, _, label), ls in zip(budgets, (":", "-."))]]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=6.5, frameon=False)
    fig.suptitle("Budget study: validation loss (each method's own loss on fixed validation "
                 "patches) and pixel ROC AUC with 95 % intervals over the test images,\n"
                 "one model per method (training seed 0) trained on through the checkpoints",
                 fontsize=7.5)
    save_figure(fig, path, dpi=200)


def _loss_panel(ax, spec, method, rows, curves) -> None:
    entry = METHODS[method]
    colour = MAPS[entry.main_map].colour
    ylabel = entry.terms[0][2] if len(entry.terms) == 1 else "neg. ELBO (nats)"
    ax.set_title(f"{spec}: {entry.label}, validation loss", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=6.5)
    curve = curves[curves["method"] == method].sort_values("updates")
    points = rows[(rows["method"] == method) & (rows["map"] == entry.main_map)].sort_values("updates")
    if curve.empty and points.empty:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", fontsize=7, transform=ax.transAxes)
        return
    ax.plot(curve["updates"], curve["val_loss"], color=colour, lw=1)
    for r in points.itertuples():
        ax.plot(r.updates, r.val_loss, marker="o", ms=4, color=colour,
                mfc=colour if r.fit_trained else "white")
    shown = pd.concat([curve.loc[curve["updates"] >= points["updates"].min() / 2, "val_loss"],
                       points["val_loss"]]).to_numpy(float)
    shown = shown[np.isfinite(shown)]
    if shown.size:
        pad = 0.08 * (shown.max() - shown.min()) or 0.05 * abs(shown.max()) or 1.0
        ax.set_ylim(shown.min() - pad, shown.max() + pad)


def _auroc_panel(ax, spec, rows) -> None:
    ax.set_title(f"{spec}: pixel ROC AUC", fontsize=7)
    ax.set_ylabel("pixel ROC AUC", fontsize=6.5)
    ax.axhline(0.5, color="0.75", lw=0.7)
    own = own_rows(rows)
    for i, (name, group) in enumerate(own.groupby("map", sort=False)):
        spec_map = MAPS[name]
        x = group["updates"].to_numpy(float) * 1.04 ** (i - 1.5)  # side by side on the log axis
        y = group["pixel_auroc"].to_numpy(float)
        err = [y - group["pixel_auroc_low"].to_numpy(float), group["pixel_auroc_high"].to_numpy(float) - y]
        ax.errorbar(x, y, yerr=err, color=spec_map.colour, ls=spec_map.style, lw=0.9, capsize=1.5,
                    elinewidth=0.7)
        for xi, yi, trained in zip(x, y, group["fit_trained"].astype(bool)):
            ax.plot(xi, yi, marker=spec_map.marker, ms=4, color=spec_map.colour,
                    mfc=spec_map.colour if trained else "white")
