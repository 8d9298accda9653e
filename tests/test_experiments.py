"""The experiment modules of reproduce/experiments/ on a fake evaluation folder (no training).

table1 and fig_ssim_components need no evaluation and run as they do in a real run. The
others read evaluation folders; here two tiny fake ones are written in exactly the format
reproduce/context.py documents (4 test images of 64 x 64, random maps, one blob mask per
defective image, training logs), so the tests check the modules' reading and writing,
not any trained model.
"""
import json
import math
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from methods import MAPS, METHODS, default_methods
from reproduce.context import Context

SPECS = ["fakeA", "folder:/data/fake B"]
K, H, W = 4, 64, 64
LABELS = [m.label for m in MAPS.values()]


def _write_eval(folder: Path, spec: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:H, :W]
    masks = np.zeros((K, H, W), bool)
    labels = np.array([0, 1, 1, 1])
    for k in (1, 2, 3):
        cy, cx, r = rng.integers(16, 48), rng.integers(16, 48), 4 + 2 * k
        masks[k] = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
    has_mask = np.array([True, True, True, False])  # last: a type without masks
    images = rng.random((K, H, W)).astype(np.float32)
    arrays = {"images": images, "masks": masks, "has_mask": has_mask, "labels": labels,
              "defect_types": np.array(["good", "cut", "swirl", "stain"])}
    for i, name in enumerate(MAPS):
        arrays[name] = (rng.random((K, H, W)) + (0.3 + 0.2 * i) * masks).astype(np.float32)
        arrays[f"threshold_{name}"] = np.float32(0.9 + 0.1 * i)
    for method in ("l2_ae", "ssim_ae", "vae"):
        arrays[f"recon_{method}"] = np.clip(images + 0.1 * rng.standard_normal((K, H, W)),
                                            0, 1).astype(np.float32)
    np.savez(folder / "maps.npz", **arrays)
    rows = [{"dataset": spec, "method": m.method, "map": name, "pixel_auroc": 0.6 + 0.1 * i,
             "aupro_30": 0.3 + 0.1 * i, "image_auroc": 0.5 + 0.05 * i, "threshold": 0.9,
             "iou": 0.1 * (i + 1), "f1": 0.15 * (i + 1), "f1_max": 0.2 * (i + 1)}
            for i, (name, m) in enumerate(MAPS.items())]
    rows += [{**rows[1], "method": "l2_ae", "pixel_auroc": 0.05},  # the cross rows
             {**rows[0], "method": "ssim_ae", "pixel_auroc": 0.01}]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    (folder / "logs").mkdir()
    epochs = np.arange(1, 6)
    pd.DataFrame({"epoch": epochs, "loss": 0.05 / epochs}).to_csv(folder / "logs/l2_ae.csv", index=False)
    pd.DataFrame({"epoch": epochs, "loss": 0.6 / epochs}).to_csv(folder / "logs/ssim_ae.csv", index=False)
    pd.DataFrame({"epoch": epochs, "loss": -3e4 + 1e3 / epochs, "reconstruction": -3.1e4 + 1e3 / epochs,
                  "kl": np.full(5, 1e3)}).to_csv(folder / "logs/vae.csv", index=False)  # first seed's
    info = {"dataset": spec}
    if seed == 0:  # the first fake dataset records its structural defect types
        info["structural_types"] = ["cut"]
    (folder / "run.json").write_text(json.dumps(info))


@pytest.fixture
def fake_ctx(tmp_path):
    ctx = Context(out=tmp_path / "results", profile={"latent_dim": 100, "patch_size": 128,
                                                     "seeds": (0,), "small_data": True},
                  datasets=list(SPECS))
    for i, spec in enumerate(SPECS):
        _write_eval(ctx.eval_dir(spec), spec, seed=i)
    return ctx


def _nonempty(paths, expected):
    assert sorted(p.name for p in paths) == sorted(expected)
    for p in paths:
        assert p.stat().st_size > (1000 if p.suffix == ".png" else 0)
        assert not list(p.parent.glob("*.tmp"))


@pytest.fixture
def figures(monkeypatch):
    """Every matplotlib Figure the experiment modules save, captured as it is saved (the
    PNG is still written): ``figures[path.name]`` is the Figure."""
    from reproduce import plotting
    from reproduce.experiments import (fig_datasets, fig_qualitative, fig_roc,
                                       fig_ssim_components, fig_training)
    captured = {}
    real = plotting.save_figure

    def capture(fig, path, *args, **kwargs):
        captured[Path(path).name] = fig
        return real(fig, path, *args, **kwargs)

    for module in (fig_datasets, fig_qualitative, fig_roc, fig_ssim_components, fig_training,
                   plotting):
        monkeypatch.setattr(module, "save_figure", capture, raising=False)
    return captured


def _outside(fig, legend, axes):
    """Whether a legend's box overlaps none of the axes' boxes (once drawn)."""
    fig.canvas.draw()
    box = legend.get_window_extent()
    return not any(box.overlaps(ax.get_window_extent()) for ax in axes)


def test_table1_matches_paper(tmp_path):
    from reproduce.experiments import table1
    ctx = Context(out=tmp_path, profile={"latent_dim": 100, "patch_size": 128}, datasets=[])
    paths = table1.run(ctx)
    _nonempty(paths, ["table1.csv", "table1.md"])
    df = pd.read_csv(tmp_path / "table1.csv")
    assert len(df) == len(table1.PAPER_128) + 4  # the AE's 18 layers + 4 VAE heads
    assert (df["matches paper"] == "yes").all()
    latent = df[df["layer"] == "conv9_latent"].iloc[0]
    assert (latent["output shape"], latent["kernel"], latent["padding"]) == ("1x1x100", "8x8", "valid")


def test_table1_detects_a_mismatch(tmp_path, monkeypatch):
    from reproduce.experiments import table1
    wrong = list(table1.PAPER_128)
    wrong[0] = ("conv1", (64, 64, 16), 4, 2, "same", table1.LRELU)
    monkeypatch.setattr(table1, "PAPER_128", wrong)
    ctx = Context(out=tmp_path, profile={"latent_dim": 100, "patch_size": 128}, datasets=[])
    with pytest.raises(RuntimeError, match="conv1"):
        table1.run(ctx)
    assert not (tmp_path / "table1.csv").exists()


def test_fig_ssim_components(tmp_path, figures):
    from reproduce.experiments import fig_ssim_components as fig
    for p, q in fig.patch_pairs().values():  # the construction: |p - q| = 0.5 in [0, 1]
        assert np.allclose(np.abs(p - q), 0.5, atol=1e-6)
        assert p.min() >= 0 and q.min() >= 0 and p.max() <= 1 and q.max() <= 1
    ctx = Context(out=tmp_path, profile={}, datasets=[])
    _nonempty(fig.run(ctx), ["fig_ssim_components.png", "fig_ssim_components.csv"])
    figure = figures["fig_ssim_components.png"]
    images = [ax for ax in figure.axes if ax.get_images()]
    assert len(images) == len(fig.CASES) * 6  # p, q, l2, l, c, s per case
    assert all(ax.get_title() for ax in images)
    assert sum(bool(ax.get_ylabel()) for ax in images) == len(fig.CASES)  # one label per row
    df = pd.read_csv(tmp_path / "fig_ssim_components.csv").set_index("case")
    assert np.allclose(df["l2_mean"], 0.25)
    assert df.loc["luminance", "l_mean"] < 0.5 and df.loc["contrast", "c_mean"] < 0.05
    assert df.loc["structure", "s_mean"] < -0.9
    for case, own in (("luminance", "l"), ("contrast", "c"), ("structure", "s")):
        assert all(df.loc[case, f"{k}_mean"] > 0.9 for k in "lcs" if k != own)


def test_published_numbers_are_their_cited_source():
    """reproduce/published.py cites docs/PAPER_NOTES.md, "The published numbers": its data
    must be the numbers written there (the headline sentence and [MVTec AD] Table 3)."""
    import re

    from reproduce import published
    notes = (Path(__file__).resolve().parent.parent / "docs" / "PAPER_NOTES.md").read_text()
    section = notes.split("## The published numbers", 1)[1].split("\n## ", 1)[0]
    headline = re.search(r"AUC ([\d.]+) \(l2-AE\) → ([\d.]+) \(SSIM-AE\)", section)
    assert published.HEADLINE == {"l2-AE": float(headline[1]), "SSIM-AE": float(headline[2])}
    table = {m[0]: {"AE (SSIM)": (float(m[1]), float(m[2])), "AE (l2)": (float(m[3]), float(m[4]))}
             for m in re.findall(r"^\| (\w+) \| ([\d.]+) / ([\d.]+) \| ([\d.]+) / ([\d.]+) \|$",
                                 section, re.MULTILINE)}
    assert len(table) == 5 and published.MVTEC_TEXTURES == table
    rows = published.mvtec_rows()
    assert {(r["category"], r["method"]): (r["pro"], r["pixel_auroc"]) for r in rows} == {
        (c, m): v for c, methods in table.items() for m, v in methods.items()}
    md = published.markdown()
    assert "not comparable" in md and f"{published.HEADLINE['SSIM-AE']:.3f}" in md
    assert all(f"| {c} | {s[0]:.2f} / {s[1]:.2f} | {l2[0]:.2f} / {l2[1]:.2f} |" in md
               for c, (s, l2) in ((c, (v["AE (SSIM)"], v["AE (l2)"])) for c, v in table.items()))


def test_paper_results_are_their_cited_source():
    """published.PAPER_RESULTS is the table of docs/PAPER_NOTES.md, "The paper's own results,
    per dataset", cell by cell (a value with its status, or the status alone); its maps are
    methods.MAPS' own; a cell has a value exactly when its status says one was read; every
    statement of the paper's text it quotes stands in that section; the report helpers
    carry the cells and their sources."""
    import re

    from methods import MAPS
    from reproduce import published
    notes = (Path(__file__).resolve().parent.parent / "docs" / "PAPER_NOTES.md").read_text()
    section = notes.split("## The paper's own results, per dataset", 1)[1].split("\n## ", 1)[0]
    header = re.search(r"^\| paper's dataset \| stand-in \| (.+) \|$", section, re.MULTILINE)
    assert header[1].split(" | ") == list(published.PAPER_MAPS.values())
    assert all(MAPS[m].label == label for m, label in published.PAPER_MAPS.items())
    table = {m[0]: (m[1], m[2].split(" | "))
             for m in re.findall(r"^\| ([^|`]+?) \| `(\w+)` \| (.+) \|$", section, re.MULTILINE)}
    assert set(table) == {ds.name for ds in published.PAPER_DATASETS.values()}
    for key, ds in published.PAPER_DATASETS.items():
        cells = published.PAPER_RESULTS[key]
        assert list(cells) == list(published.PAPER_MAPS)
        assert all(c.status in published.CELL_STATUS and c.source for c in cells.values())
        assert all((c.value is None) == (c.status == "not obtained") for c in cells.values())
        expected = [c.status if c.value is None else f"{c.value:.3f} ({c.status})"
                    for c in cells.values()]
        assert table[ds.name] == (ds.stand_in, expected)
    plain = section.replace("ℓ", "l").replace(" [sic]", "")
    assert all(words in plain for _, words, _ in published.PAPER_STATEMENTS)
    assert all(set(datasets) <= set(published.PAPER_DATASETS)
               for datasets, _, _ in published.PAPER_STATEMENTS)
    assert published.HEADLINE_DATASET is None or published.HEADLINE_DATASET in table
    rows = published.paper_rows()
    assert len(rows) == len(published.PAPER_DATASETS) * len(published.PAPER_MAPS)
    values = published.published_values()
    assert {k for k in values if k.startswith("paper.") and ".headline." not in k} == {
        f"paper.{r['dataset']}.{r['map']}" for r in rows if r["value"] is not None}
    assert values["paper.headline.SSIM-AE"] == published.HEADLINE["SSIM-AE"]
    md = published.paper_markdown()
    assert published.HEADLINE_URL in md and all(r["source"] in md for r in rows)
    assert md.count("not obtained") >= sum(r["value"] is None for r in rows)


def test_table_auc(fake_ctx):
    from reproduce.experiments import table_auc
    paths = table_auc.run(fake_ctx)
    _nonempty(paths, ["table_auc.csv", "table_auc.md", "claims.json"])
    df = pd.read_csv(fake_ctx.out / "table_auc.csv")
    assert len(df) == len(SPECS) * (len(MAPS) + 2)  # + the two cross rows each
    main = df[df["label"].isin(LABELS)]
    assert np.allclose(main["pixel_auroc"], np.tile(0.6 + 0.1 * np.arange(len(MAPS)), len(SPECS)))
    assert list(df["dataset"].unique()) == SPECS
    values = df[["pixel_auroc", "aupro_30", "image_auroc", "iou", "f1", "f1_max"]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    md = (fake_ctx.out / "table_auc.md").read_text()
    assert "**" not in md.split("## Loss")[0] and "Published numbers on other data" in md  # no intervals: no bold
    claims = json.loads((fake_ctx.out / "claims.json").read_text())
    d = claims["datasets"]["fakeA"]
    # no histograms.npz, so no intervals: a point lead of 0.1 decides nothing (null, not true)
    assert math.isclose(d["ssim_minus_l2"], 0.1) and d["ssim_beats_l2"] is None
    assert d["vae_kl_not_better_than_l2"] is None and d["ssim_best"] is None
    assert claims["summary"]["n_ssim_beats_l2"] == 0 and "definitions" in claims
    assert d["cross_pixel_auroc"] == {"l2_ae/ssim": 0.05, "ssim_ae/l2": 0.01}
    assert "Each autoencoder scored with the other residual" in md
    # by defect kind: every seed's, from histograms.npz, which these folders lack (the
    # numbers with it: tests/test_table_intervals.py); nor is AUPRO anything but descriptive
    assert "## Pixel ROC AUC by defect kind" not in md and "pixel_auroc_structural" not in d
    assert df["pixel_auroc_structural"].isna().all() and df["aupro_30_lo"].isna().all()
    assert md.split("### AUPRO")[1].count("descriptive (no interval)") >= len(MAPS) * len(SPECS)


def test_fig_roc(fake_ctx, figures):
    from evaluation.metrics import roc_curve
    from evaluation.uncertainty import auroc_from_counts, pixel_histograms
    from reproduce.experiments import fig_roc
    # fakeA as a fresh clone has it: histograms.npz of two seeds (the second's maps noisier),
    # metrics.csv with a row per seed, no maps.npz; fake B keeps only maps.npz (one seed)
    folder = fake_ctx.eval_dir("fakeA")
    with np.load(folder / "maps.npz") as z:
        maps = {name: z[name] for name in MAPS}
        masks, has_mask = z["masks"], z["has_mask"]
    noise = 2 * np.random.default_rng(5).random(masks.shape)
    counts = {f"{m.method}__{name}": np.stack([pixel_histograms(maps[name], masks, has_mask),
                                               pixel_histograms(maps[name] + noise, masks, has_mask)])
              for name, m in MAPS.items()}
    counts["reference__knn"] = pixel_histograms(maps["l2"] + 0.2 * masks, masks, has_mask)[None]
    np.savez(folder / "histograms.npz", seeds=np.array([0, 1]), **counts)
    (folder / "maps.npz").unlink()
    rows = pd.read_csv(folder / "metrics.csv")
    second = rows.assign(seed=1, pixel_auroc=rows["pixel_auroc"] - 0.1, fit_trained=False)
    pd.concat([rows.assign(seed=0, fit_trained=True), second]).to_csv(folder / "metrics.csv",
                                                                     index=False)

    _nonempty(fig_roc.run(fake_ctx), ["fig_roc.png"])
    fig = figures["fig_roc.png"]
    panels = [ax for ax in fig.axes if ax.get_lines()]
    assert [ax.get_title() for ax in panels] == SPECS  # one panel per dataset, named
    with np.load(fake_ctx.eval_dir(SPECS[1]) / "maps.npz") as z:  # fake B's one seed
        keep = z["has_mask"]
        exact = {name: roc_curve(z[name][keep], z["masks"][keep]) for name in MAPS}
    for ax, spec in zip(panels, SPECS):
        assert ax.get_xlabel() == "false positive rate" and ax.get_ylabel() == "true positive rate"
        lines = ax.get_lines()
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(lines) == len(labels) == len(MAPS) + 1 + (spec == "fakeA")
        assert labels[0] == "chance (AUC 0.5)"
        # every map's pixel AUC as table_auc.md's cell: the seed mean of metrics.csv, ± sd and
        # the trained count where there are several seeds; never the cross rows' (0.05)
        for i, label in enumerate(LABELS):
            auc = 0.6 + 0.1 * i
            assert (f"{label}: {auc - 0.05:.3f} ± {0.1 / 2 ** 0.5:.3f} (1/2 trained)" if spec == "fakeA"
                    else f"{label}: {auc:.3f}") in labels, labels
        assert _outside(fig, ax.get_legend(), panels)  # below the panel, off every curve
        styles = [(line.get_linestyle(), line.get_marker()) for line in lines[1:]]
        assert len(set(styles)) == len(styles)  # told apart without colour
        for line in lines:  # ROC curves: from (0, 0) to (1, 1), monotone
            x, y = line.get_xdata(), line.get_ydata()
            assert (x[0], y[0], x[-1], y[-1]) == (0, 0, 1, 1)
            assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)
        bands = ax.collections  # one per map with several seeds, none for the control
        assert len(bands) == (len(MAPS) if spec == "fakeA" else 0)
        for line, (name, m) in zip(lines[1:], MAPS.items()):
            x, y = line.get_xdata(), line.get_ydata()
            if spec == "fakeA":  # the seeds' mean curve: its area is the mean of their areas
                pooled = counts[f"{m.method}__{name}"].sum(axis=1)
                assert np.trapezoid(y, x) == pytest.approx(np.mean(auroc_from_counts(pooled)), abs=1e-9)
                _, mean, low, high = fig_roc.seed_curves(pooled)
                assert np.array_equal(y, mean) and np.all(low <= mean) and np.all(mean <= high)
                assert np.any(low < high)  # the two seeds' curves differ: a band
            else:  # one seed (maps.npz): every point on its exact curve
                fpr, tpr, _ = exact[name]
                vertices = set(zip(np.round(fpr, 9), np.round(tpr, 9)))
                assert set(zip(np.round(x, 9), np.round(y, 9))) <= vertices


def _training_logs(fake_ctx):
    """fakeA: three training seeds. The first's log in logs/<method>.csv; the second's (judged
    not trained, a spike and a late drop) in logs/<method>_seed1.csv, except the SSIM-AE's,
    found only in the model cache (run.json records where); the third's missing. Where
    both hold a log, the model cache's is another (it must not be drawn)."""
    folder = fake_ctx.eval_dir("fakeA")
    cache = fake_ctx.out.parent / "cache"
    models = {}
    for method in default_methods():
        df = pd.read_csv(folder / "logs" / f"{method}.csv")
        df["epoch"] -= 1  # Keras counts from 0
        for column in ("loss", "reconstruction", "kl"):
            if column in df:  # a plateau, then a drop in the last epoch
                base = df[column].iloc[0]
                df[column] = [base] * 4 + [base - 0.8 * abs(base)]
                if column != "reconstruction":  # and a spike in epoch 3
                    df.loc[2, column] = 1e3 * abs(base)
        for seed in (0, 1):
            (cache / f"{method}-{seed}").mkdir(parents=True)
            cached = df if method == "ssim_ae" and seed == 1 else df.assign(loss=7.0)
            cached.to_csv(cache / f"{method}-{seed}" / "log.csv", index=False)
        if method != "ssim_ae":
            df.to_csv(folder / "logs" / f"{method}_seed1.csv", index=False)
        models.update({f"{method}/seed{s}": str(cache / f"{method}-{s}") for s in (0, 1, 2)})
    info = {"dataset": "fakeA", "structural_types": ["cut"], "train_seeds": [0, 1, 2],
            "models": models, "profile": {"kl_warmup_epochs": 2},
            "trainedness": {f"{m}/seed1": {"trained": m != "ssim_ae"} for m in METHODS}}
    (folder / "run.json").write_text(json.dumps(info))


def test_fig_training(fake_ctx, figures):
    from matplotlib.patches import Rectangle

    from reproduce.experiments import fig_training
    _training_logs(fake_ctx)
    _nonempty(fig_training.run(fake_ctx), ["fig_training.png"])
    fig = figures["fig_training.png"]
    panels = [ax for ax in fig.axes if ax.get_lines()]
    # rows: datasets; columns: l2-AE, SSIM-AE, the VAE's two terms; each titled, labelled
    from methods import default_methods
    shown = fig_training.panels(default_methods())  # the fake run.json names no methods
    terms = [title for _, _, title, _ in shown]
    assert terms == ["l2-AE", "SSIM-AE", "VAE: recon. term", "VAE: KL term"]
    assert [ax.get_title() for ax in panels] == [f"{s}: {t}" for s in SPECS for t in terms]
    for ax, (spec, panel) in zip(panels, [(s, p) for s in SPECS for p in shown]):
        method, column, _, ylabel = panel
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == ylabel
        assert ax.get_yscale() == "linear"
        lines = ax.get_lines()
        # every seed whose log exists: fakeA 0 and 1 (2 is missing), the other only 0
        assert len(lines) == (2 if spec == "fakeA" else 1)
        log = pd.read_csv(fake_ctx.eval_dir(spec) / "logs" / f"{method}.csv")
        np.testing.assert_allclose(lines[0].get_ydata(), log[column])
        for line in lines:
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))  # epochs 1..5
            assert ax.get_ylim()[0] <= line.get_ydata().min()  # a falling loss stays in view
        if spec == "fakeA":  # seed 1 judged not trained: crosses; its spike off scale
            assert lines[1].get_marker() == ("x" if method == "ssim_ae" else ".")
            spike = max(lines[1].get_ydata(), key=abs)
            assert spike > ax.get_ylim()[1] or column == "reconstruction"
            assert any(t.get_text().startswith("off scale") for t in ax.texts) == (column != "reconstruction")
            assert ax.get_ylim()[1] >= max(lines[0].get_ydata().max(), lines[1].get_ydata()[0])
        # the warm-up span in the VAE's panels only (fakeA's run.json: 2 epochs)
        spans = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(spans) == (method == "vae" and spec == "fakeA")
        if spans:  # epochs 1 and 2
            assert (spans[0].get_x(), spans[0].get_width()) == (0.5, 2)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["training seed 0", "training seed 1"]
    assert "model judged not trained" in legend and any("warm-up" in t for t in legend)
    assert _outside(fig, fig.legends[0], panels)
    title = fig.get_suptitle()
    assert "not the model's ELBO" in title and "No validation loss" in title
    assert "Not drawn: the logs of 3 models (training seeds 2)" in title  # fakeA's seed 2


def test_fig_qualitative(fake_ctx, figures):
    from reproduce.experiments import fig_qualitative
    info = json.loads((fake_ctx.eval_dir("fakeA") / "run.json").read_text())
    info["trainedness"] = {"vae/seed0": {"trained": False}}
    (fake_ctx.eval_dir("fakeA") / "run.json").write_text(json.dumps(info))
    paths = fig_qualitative.run(fake_ctx)
    names = [f"fig_qualitative_{n}{s}.png" for n in ("fakeA", "folder__data_fake B")
             for s in ("", "_reconstructions")]
    _nonempty(paths, names)
    with np.load(fake_ctx.eval_dir("fakeA") / "maps.npz") as npz:
        z = {key: npz[key] for key in npz.files}
    # the rule: the first defect-free image, then the first of each defect type
    assert fig_qualitative.choose(z["labels"], z["defect_types"]) == [0, 1, 2, 3]
    assert fig_qualitative.choose([1, 0, 1, 0, 1], ["a", "good", "a", "good", "b"]) == [1, 0, 4]
    for name in names:
        fig = figures[name]
        shown = [ax for ax in fig.axes if ax.get_images()]
        grid = shown[0].get_subplotspec().get_gridspec()
        assert grid.ncols <= 6 and grid.nrows == K  # one row per chosen image
        assert "first defect-free test image" in fig.get_suptitle()
        assert "each defect type" in fig.get_suptitle() and "training seed 0" in fig.get_suptitle()
        rows = [ax.get_ylabel() for ax in shown if ax.get_ylabel()]
        assert len(rows) == K and rows[0].startswith("defect-free") and "(no mask)" in rows[3]
        # fakeA names "cut" structural; the other dataset names no structural types
        assert ("(structural)" in rows[1]) == ("fakeA" in name) and "(structural)" not in rows[2]
        titles = [ax.get_title() for ax in shown[:grid.ncols]]
        if name.endswith("_reconstructions.png"):
            assert titles == ["input", "l2-AE", "SSIM-AE", "VAE (decoder mean)"
                              + ("\n(not trained)" if "fakeA" in name else "")]
            continue
        assert titles == ["input"] + [m.label + ("\n(not trained)" if m.method == "vae" and
                                                 "fakeA" in name else "") for m in MAPS.values()]
        outlined = [ax for ax in shown if ax.collections]  # the true defects, dashed
        assert len(outlined) == 2 * grid.ncols  # images 1 and 2 have masks, 3 has none
        if "fakeA" not in name:
            continue
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == len(MAPS)  # one colour scale per map type ...
        for c, map_name in enumerate(MAPS, start=1):
            cells = [ax for ax in shown if ax.get_subplotspec().colspan.start == c]
            assert len({ax.get_images()[0].get_clim() for ax in cells}) == 1  # ... shared
            t = float(z[f"threshold_{map_name}"])
            for ax, k in zip(cells, range(K)):  # the segmentation map > t drawn over the map
                overlay = ax.get_images()[1].get_array()
                np.testing.assert_array_equal(~np.ma.getmaskarray(overlay), z[map_name][k] > t)
            bar = bars[c - 1]
            assert any(np.allclose(line.get_xdata(), t) for line in bar.lines)  # t marked
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert any("map > t" in t for t in legend) and "ground-truth defect" in legend
    # a fresh clone has no maps.npz: that dataset is left out, the others drawn
    (fake_ctx.eval_dir(SPECS[1]) / "maps.npz").unlink()
    assert [p.name for p in fig_qualitative.run(fake_ctx)] == names[:2]


def test_crop_window():
    from reproduce.experiments.fig_qualitative import crop
    mask = np.zeros((512, 512), bool)
    mask[300:310, 500:510] = True  # near the right edge: the window stays inside
    window = crop(mask, 160)
    assert window == np.s_[224:384, 352:512]  # centre (304, 504), 80 either side
    assert crop(np.zeros((100, 120), bool), 160) == np.s_[0:160, 0:160]  # smaller image: all
    two = np.zeros((512, 512), bool)
    two[10:20, 10:20] = True  # a small region in one corner ...
    two[400:430, 400:430] = True  # ... and a larger one in the other: the crop shows the larger
    assert crop(two, 160) == np.s_[334:494, 334:494]  # centre (414, 414), 80 either side


def test_fig_datasets(fake_ctx, monkeypatch, figures):
    import textures
    from reproduce.experiments import fig_datasets

    def fake_load(spec, seed=0, small=False):
        rng = np.random.default_rng(seed)
        masks = np.zeros((3, 48, 48), bool)
        masks[1, 10:20, 10:20] = masks[2, 30:40, 5:15] = True
        return types.SimpleNamespace(
            spec=spec, train=rng.random((3, 48, 48), dtype=np.float32),
            val=rng.random((1, 48, 48), dtype=np.float32),
            test=rng.random((3, 48, 48), dtype=np.float32), masks=masks,
            has_mask=np.ones(3, bool), labels=np.array([0, 1, 1]),
            defect_types=["good", "cut", "stain"], structural_types=["cut"])

    monkeypatch.setattr(textures, "load", fake_load)
    _nonempty(fig_datasets.run(fake_ctx), ["fig_datasets.png"])
    figure = figures["fig_datasets.png"]
    rows = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
    assert len(rows) == len(SPECS) and all(spec in row for spec, row in zip(SPECS, rows))
    shown = [ax for ax in figure.axes if ax.get_images()]
    # per dataset: 2 training images, then one per defect type (cut, stain)
    assert len(shown) == len(SPECS) * (2 + 2)
    titles = [ax.get_title() for ax in shown]
    assert titles.count("cut (structural)") == len(SPECS) and titles.count("stain") == len(SPECS)
    outlined = [ax for ax in shown if ax.collections]  # the defects' red contours
    assert len(outlined) == len(SPECS) * 2
