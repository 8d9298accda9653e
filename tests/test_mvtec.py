"""MVTec AD at the published protocol, end to end through the command line (issue #16).

A generated fixture stands in for the dataset: a small category in the MVTec AD layout
(train/good, test/good, test/<defect>, ground_truth/<defect>/<name>_mask.png) of 1024 x
1024 RGB PNGs, as the real texture categories ship, under a real category name
(``carpet``) and under another (``plainweave``). Every defect is painted into its image
exactly where its mask is (a dark, tilted ellipse away from the centre and the diagonal,
so that a flip or a transposition would show).

Through ``reproduce.__main__.main`` in this process:
- ``datasets export mvtec:`` writes the 512 x 512 images of the protocol, ``folder:``
  keeps the 1024 x 1024 of the files, ``--image-size N`` makes them N x N;
- after the resize, each mask still covers its painted defect (and nothing else);
- a smoke ``evaluate`` of the l2-AE and SSIM-AE records the evaluated size in run.json;
- ``table_auc`` sets [MVTec AD]'s AE(l2) and AE(SSIM) beside ours for ``carpet`` only.
"""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

import textures
from reproduce import __main__ as cli
from reproduce import published
from reproduce.context import folder_name

SIZE = 1024  # the real texture categories' size
DEFECT = "hole"


def _texture(rng):
    """A colour weave: two sine gratings and noise, RGB in about 110-230."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    grey = 170 + 30 * np.sin(x * 2 * np.pi / 16) * np.sin(y * 2 * np.pi / 16) \
        + 10 * rng.standard_normal((SIZE, SIZE))
    tint = np.array([1.0, 0.9, 0.75], np.float32)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


def _ellipse(k):
    """The k-th defect's mask: a tilted ellipse in the upper right, off the diagonal."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cy, cx, a, b, th = 250 + 60 * k, 700, 150, 60, 0.5
    u = (x - cx) * np.cos(th) + (y - cy) * np.sin(th)
    v = -(x - cx) * np.sin(th) + (y - cy) * np.cos(th)
    return (u / a) ** 2 + (v / b) ** 2 <= 1


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, compress_level=1)


@pytest.fixture(scope="module")
def category(tmp_path_factory):
    """{"carpet": path, "other": path}: the same generated category under two names."""
    root = tmp_path_factory.mktemp("mvtec_ad")
    rng = np.random.default_rng(0)
    carpet = root / "carpet"
    for i in range(4):
        _save(carpet / "train" / "good" / f"{i:03d}.png", _texture(rng))
    for i in range(2):
        _save(carpet / "test" / "good" / f"{i:03d}.png", _texture(rng))
        image, mask = _texture(rng), _ellipse(i)
        image[mask] = (20, 15, 10)  # the defect: a dark hole, painted where the mask is
        _save(carpet / "test" / DEFECT / f"{i:03d}.png", image)
        _save(carpet / "ground_truth" / DEFECT / f"{i:03d}_mask.png", mask.astype(np.uint8) * 255)
    other = root / "plainweave"
    shutil.copytree(carpet, other)
    return {"carpet": carpet, "other": other}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _export(spec, out, *extra):
    assert cli.main(["datasets", "export", spec, str(out), *extra]) == 0
    return out


def _read(path):
    return np.asarray(Image.open(path))


def test_mvtec_loads_at_the_protocol_size_folder_at_the_files(category, tmp_path, capsys,
                                                              monkeypatch):
    from textures import folders
    monkeypatch.setattr(folders, "_noted", set())  # notes are said once per process
    carpet = category["carpet"]
    assert _read(carpet / "train" / "good" / "000.png").shape == (SIZE, SIZE, 3)
    sizes = {}
    for name, spec, extra in (("mvtec", f"mvtec:{carpet}", []),
                              ("folder", f"folder:{carpet}", []),
                              ("override", f"mvtec:{carpet}", ["--image-size", "256"])):
        out = _export(spec, tmp_path / name, *extra)
        files = sorted(out.rglob("*.png"))
        assert len(files) == 4 + 4 + 2  # train + val, test, masks
        sizes[name] = {_read(f).shape for f in files}
        split = json.loads((out / "split.json").read_text())
        sizes[name + "_spec"] = split["spec"]
    assert sizes["mvtec"] == {(512, 512)} and published.MVTEC_PROTOCOL["image_size"] == 512
    assert sizes["folder"] == {(SIZE, SIZE)}
    assert sizes["override"] == {(256, 256)}
    # the size is part of the dataset's name where it is not the layout's default
    assert sizes["mvtec_spec"] == f"mvtec:{carpet}"
    assert sizes["override_spec"] == f"mvtec:{carpet}@256"
    assert "converted to grayscale" in capsys.readouterr().err


def test_masks_stay_on_their_defects_after_the_resize(category, tmp_path):
    out = _export(f"mvtec:{category['carpet']}", tmp_path / "exp")
    for i in range(2):
        image = _read(out / "test" / DEFECT / f"{i:03d}.png") / 65535.0  # 16-bit grey
        mask = _read(out / "ground_truth" / DEFECT / f"{i:03d}_mask.png") > 0
        assert image.shape == mask.shape == (512, 512)
        expected = _ellipse(i)[::2, ::2]  # where the hole is, at half the size
        assert abs(int(mask.sum()) - int(expected.sum())) < 0.02 * expected.sum()
        dark = image < 0.3  # the painted hole (grey ~0.06) against the weave (>= 0.4)
        iou = (dark & mask).sum() / (dark | mask).sum()
        assert iou > 0.97, iou  # only the ellipse's 1-px rim may differ
        assert image[mask].mean() < 0.1 and image[~mask].mean() > 0.5


@pytest.mark.slow
def test_smoke_evaluate_and_the_published_numbers_beside_ours(category, tmp_path, cache, capsys):
    out = tmp_path / "results"
    spec, other = f"mvtec:{category['carpet']}", f"mvtec:{category['other']}"
    evaluated = out / "eval" / folder_name(spec)
    assert cli.main(["evaluate", "--dataset", spec, "--methods", "l2_ae,ssim_ae", "--profile",
                     "smoke", "--out", str(evaluated)]) == 0
    info = json.loads((evaluated / "run.json").read_text())
    assert info["image_size"] == [512, 512]
    assert info["image_size_rule"]["requested"] == 512 and "MVTec AD" in info["image_size_rule"]["rule"]
    with np.load(evaluated / "maps.npz") as z:
        assert z["images"].shape[1:] == z["masks"].shape[1:] == z["ssim"].shape[1:] == (512, 512)
        assert z["masks"].any()
    # the other name: the same evaluation, so only the name decides the published rows
    shutil.copytree(evaluated, out / "eval" / folder_name(other))
    assert cli.main(["all", "--only", "table_auc,verify", "--reuse-evaluations", "--profile", "smoke",
                     "--datasets", f"{spec},{other}", "--out", str(out)]) == 0  # verify passes too
    assert "PASSED" in (out / "verify.md").read_text()
    md = (out / "table_auc.md").read_text()
    section = md.split("## MVTec AD: this run beside the published autoencoders")[1]
    section = section.split("\n## ")[0]
    assert f"### carpet (`{spec}`)" in section and "plainweave" not in section
    assert "| AE (l2) | [MVTec AD] Table 3 | 0.59 | 0.38 | not reported |" in section
    assert "| AE (SSIM) | [MVTec AD] Table 3 | 0.87 | 0.69 | not reported |" in section
    assert "| l2-AE | this run |" in section and "| SSIM-AE | this run |" in section
    assert "images 512x512" in section and "smoke test" in section
    assert "not the number of [MVTec AD] Table 3" in section  # AUPRO is not their PRO
    assert f"| {other} |" in md  # the other name is in the main table all the same
    # a run of the other name alone has no such section
    assert cli.main(["all", "--only", "table_auc", "--reuse-evaluations", "--profile", "smoke",
                     "--datasets", other, "--out", str(out)]) == 0
    assert "## MVTec AD: this run beside" not in (out / "table_auc.md").read_text()


def test_image_size_is_refused_for_built_in_data_and_below_the_patch(tmp_path, capsys, category):
    assert cli.main(["evaluate", "--dataset", "fabric1", "--image-size", "256", "--profile",
                     "smoke", "--out", str(tmp_path / "o")]) == 2
    assert "applies to folder datasets" in capsys.readouterr().err
    assert cli.main(["datasets", "export", f"folder:{category['carpet']}", str(tmp_path / "x"),
                     "--image-size", "100"]) == 2
    assert "smaller than the 128 x 128 patch" in capsys.readouterr().err
    assert textures.image_size_rule(f"folder:{category['carpet']}@256")["requested"] == 256
    assert textures.image_size_rule(f"folder:{category['carpet']}")["requested"] is None
