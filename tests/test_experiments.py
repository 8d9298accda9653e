"""The experiment modules of reproduce/ on a fake evaluation folder (no training).

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

from reproduce.context import MAPS, Context

SPECS = ["fakeA", "folder:/data/fake B"]
K, H, W = 4, 64, 64
METHODS = {"l2_ae": "loss", "ssim_ae": "loss", "vae": "loss"}


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
    rows = [{"dataset": spec, "method": method, "map": name, "pixel_auroc": 0.6 + 0.1 * i,
             "aupro_30": 0.3 + 0.1 * i, "image_auroc": 0.5 + 0.05 * i, "threshold": 0.9,
             "iou": 0.1 * (i + 1), "f1": 0.15 * (i + 1), "f1_max": 0.2 * (i + 1)}
            for i, (name, (method, _)) in enumerate(MAPS.items())]
    rows += [{**rows[1], "method": "l2_ae", "pixel_auroc": 0.05},  # the cross rows
             {**rows[0], "method": "ssim_ae", "pixel_auroc": 0.01}]
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    (folder / "logs").mkdir()
    epochs = np.arange(1, 6)
    pd.DataFrame({"epoch": epochs, "loss": 0.05 / epochs}).to_csv(folder / "logs/l2_ae.csv", index=False)
    pd.DataFrame({"epoch": epochs, "loss": 0.6 / epochs}).to_csv(folder / "logs/ssim_ae.csv", index=False)
    pd.DataFrame({"epoch": epochs, "loss": -3e4 + 1e3 / epochs, "reconstruction": -3.1e4 + 1e3 / epochs,
                  "kl": np.full(5, 1e3)}).to_csv(folder / "logs/vae.csv", index=False)
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
    from reproduce import (fig_datasets, fig_qualitative, fig_roc, fig_ssim_components,
                           fig_training, provenance)
    captured = {}
    real = provenance.save_figure

    def capture(fig, path, *args, **kwargs):
        captured[Path(path).name] = fig
        return real(fig, path, *args, **kwargs)

    for module in (fig_datasets, fig_qualitative, fig_roc, fig_ssim_components, fig_training,
                   provenance):
        monkeypatch.setattr(module, "save_figure", capture, raising=False)
    return captured


def _axes_with_data(fig):
    return [ax for ax in fig.axes if ax.get_lines() or ax.get_images() or ax.collections]


def _xlabel(ax):
    """The axes' x label, or that of an axes sharing its x axis (a twinx)."""
    return ax.get_xlabel() or next((a.get_xlabel() for a in ax.get_shared_x_axes().get_siblings(ax)
                                    if a.get_xlabel()), "")


def _legends(fig):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)


def _check_plots(fig, n_panels):
    """A figure of curves: one panel (titled axes with lines) per dataset, every axes with
    lines labelled on both axes, a legend naming every curve."""
    plotted = [ax for ax in fig.axes if ax.get_lines()]
    for ax in plotted:
        assert _xlabel(ax) and ax.get_ylabel(), (ax.get_title(), _xlabel(ax), ax.get_ylabel())
    panels = {ax.get_title() for ax in plotted if ax.get_title()}
    assert len(panels) == n_panels, panels
    legends = _legends(fig)
    assert legends, "no legend"
    texts = {t.get_text() for legend in legends for t in legend.get_texts()}
    assert all(t for t in texts)
    return plotted, texts


def test_table1_matches_paper(tmp_path):
    from reproduce import table1
    ctx = Context(out=tmp_path, profile={"latent_dim": 100, "patch_size": 128}, datasets=[])
    paths = table1.run(ctx)
    _nonempty(paths, ["table1.csv", "table1.md"])
    df = pd.read_csv(tmp_path / "table1.csv")
    assert len(df) == len(table1.PAPER_128) + 4  # the AE's 18 layers + 4 VAE heads
    assert (df["matches paper"] == "yes").all()
    latent = df[df["layer"] == "conv9_latent"].iloc[0]
    assert (latent["output shape"], latent["kernel"], latent["padding"]) == ("1x1x100", "8x8", "valid")


def test_table1_detects_a_mismatch(tmp_path, monkeypatch):
    from reproduce import table1
    wrong = list(table1.PAPER_128)
    wrong[0] = ("conv1", (64, 64, 16), 4, 2, "same", table1.LRELU)
    monkeypatch.setattr(table1, "PAPER_128", wrong)
    ctx = Context(out=tmp_path, profile={"latent_dim": 100, "patch_size": 128}, datasets=[])
    with pytest.raises(RuntimeError, match="conv1"):
        table1.run(ctx)
    assert not (tmp_path / "table1.csv").exists()


def test_fig_ssim_components(tmp_path, figures):
    from reproduce import fig_ssim_components as fig
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


def test_published_numbers():
    from reproduce import published
    rows = published.mvtec_rows()
    assert len(rows) == 10 and all(0 <= r["pixel_auroc"] <= 1 and r["source"] for r in rows)
    assert published.HEADLINE == {"l2-AE": 0.688, "SSIM-AE": 0.966}
    assert "not comparable" in published.markdown()


def test_table_auc(fake_ctx):
    from reproduce import table_auc
    paths = table_auc.run(fake_ctx)
    _nonempty(paths, ["table_auc.csv", "table_auc.md", "claims.json"])
    df = pd.read_csv(fake_ctx.out / "table_auc.csv")
    assert len(df) == len(SPECS) * (len(MAPS) + 2)  # + the two cross rows each
    main = df[df["label"].isin([label for _, label in MAPS.values()])]
    assert np.allclose(main["pixel_auroc"], np.tile([0.6, 0.7, 0.8, 0.9], len(SPECS)))
    assert list(df["dataset"].unique()) == SPECS
    values = df[["pixel_auroc", "aupro_30", "image_auroc", "iou", "f1", "f1_max"]].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    md = (fake_ctx.out / "table_auc.md").read_text()
    assert "**0.900**" in md and "Published numbers on other data" in md
    claims = json.loads((fake_ctx.out / "claims.json").read_text())
    d = claims["datasets"]["fakeA"]
    assert math.isclose(d["ssim_minus_l2"], 0.1) and d["ssim_beats_l2"] is True
    assert d["vae_kl_not_better_than_l2"] is False and d["ssim_best"] is False
    assert claims["summary"]["n_ssim_beats_l2"] == 2
    assert d["cross_pixel_auroc"] == {"l2_ae/ssim": 0.05, "ssim_ae/l2": 0.01}
    assert "Each autoencoder scored with the other residual" in md
    # by defect kind (fakeA only: the other names no structural types)
    assert "## Pixel ROC AUC by defect kind" in md
    for kind in ("structural", "intensity"):
        aucs = d[f"pixel_auroc_{kind}"]
        assert set(aucs) == set(MAPS) and all(0.5 < v <= 1 for v in aucs.values())
        assert d[f"ssim_minus_l2_{kind}"] == pytest.approx(aucs["ssim"] - aucs["l2"], abs=1e-3)
    assert "pixel_auroc_structural" not in claims["datasets"][SPECS[1]]


def test_fig_roc(fake_ctx, figures):
    from reproduce import fig_roc
    _nonempty(fig_roc.run(fake_ctx), ["fig_roc.png"])
    plotted, texts = _check_plots(figures["fig_roc.png"], len(SPECS))
    assert len(plotted) == len(SPECS)
    for ax in plotted:  # one curve per map, plus the chance diagonal, each in the legend
        assert len(ax.get_lines()) == len(MAPS) + 1
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert len(labels) == len(MAPS) + 1
        assert all(any(label in t for t in labels) for _, label in MAPS.values()), labels
        for line in ax.get_lines():  # ROC curves: from (0, 0) to (1, 1), monotone
            x, y = line.get_xdata(), line.get_ydata()
            assert (x[0], y[0], x[-1], y[-1]) == (0, 0, 1, 1)
            assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)


def test_fig_qualitative(fake_ctx, figures):
    from reproduce import fig_qualitative
    paths = fig_qualitative.run(fake_ctx)
    _nonempty(paths, ["fig_qualitative_fakeA.png", "fig_qualitative_folder__data_fake B.png"])
    assert len(figures) == len(SPECS)
    for figure in figures.values():
        # rows: the maps, each labelled with its method; every row shows images
        labels = [ax.get_ylabel() for ax in figure.axes if ax.get_ylabel()]
        per_image = len(labels) // len(MAPS)  # each block of columns (one test image) labels its rows
        assert per_image >= 1
        assert sorted(labels) == sorted([label for _, label in MAPS.values()] * per_image), labels
        shown = [ax for ax in figure.axes if ax.get_images()]
        assert len(shown) >= len(MAPS) * 4  # input, reconstruction, map, mask at least
        assert figure.get_suptitle()
    # the choice: the largest mask among the structural defects (all defective images
    # with masks if none is named), then the largest of another type; image 3 has no mask
    with np.load(fake_ctx.eval_dir("fakeA") / "maps.npz") as z:
        args = z["labels"], z["has_mask"], z["masks"], z["defect_types"]
        assert fig_qualitative.choose(*args, structural=[]) == [2, 1]
        assert fig_qualitative.choose(*args, structural=["cut"]) == [1, 2]
        assert fig_qualitative.choose(*args, structural=["cut"], n=1) == [1]


def test_fig_training(fake_ctx, figures):
    from reproduce import fig_training
    _nonempty(fig_training.run(fake_ctx), ["fig_training.png"])
    plotted, texts = _check_plots(figures["fig_training.png"], len(SPECS))
    # one loss curve per method and dataset (the fake logs have no validation loss)
    assert sum(len(ax.get_lines()) for ax in plotted) == len(SPECS) * len(METHODS)
    for method in METHODS:
        assert any(t.startswith(fig_training.METHODS[method][0].split(":")[0]) for t in texts), texts
    for ax in plotted:
        for line in ax.get_lines():
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 6))  # epochs 1..5


def test_fig_datasets(fake_ctx, monkeypatch, figures):
    import textures
    from reproduce import fig_datasets

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
