"""Tests of textures/: built-in datasets, folder loaders and export, the patch sampler."""
import os

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

import textures
from textures import InputError, folders
from textures.patches import patch_dataset


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    """Generate into a fresh cache, so the tests never read a stale file."""
    old = os.environ.get("SSIM_AE_CACHE")
    os.environ["SSIM_AE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SSIM_AE_CACHE")
    else:
        os.environ["SSIM_AE_CACHE"] = old


@pytest.fixture(scope="module")
def builtin():
    return {s: textures.load(s, seed=0, small=True) for s in textures.BUILTIN}


# ---------------------------------------------------------------- built-in datasets
def test_same_seed_same_arrays_other_seed_other_images(builtin):
    from textures import nanofibres, real, synthetic
    for s in ("fabric1", "nanofibres", "brick"):
        gen = (synthetic.generate if s in synthetic.SPECS
               else nanofibres.generate if s == "nanofibres" else real.generate)
        again = gen(s, seed=0, small=True)  # regenerated, not read from the cache
        a = builtin[s]
        for f in ("train", "val", "test", "masks"):
            np.testing.assert_array_equal(getattr(a, f), getattr(again, f))
        other = gen(s, seed=1, small=True)
        assert np.abs(a.train - other.train).mean() > 0.01
        assert np.abs(a.test - other.test).mean() > 0.01
    # and no two training images of one dataset are the same
    t = builtin["fabric2"].train
    assert min(np.abs(t[i] - t[j]).mean() for i in range(len(t)) for j in range(i)) > 0.01


def test_cache_returns_identical_dataset(builtin):
    again = textures.load("fabric2", seed=0, small=True)
    np.testing.assert_array_equal(again.test, builtin["fabric2"].test)
    assert again.defect_types == builtin["fabric2"].defect_types
    assert again.structural_types == builtin["fabric2"].structural_types


@pytest.mark.parametrize("spec", textures.BUILTIN)
def test_shapes_ranges_masks(builtin, spec):
    d = builtin[spec]
    k, h, w = d.test.shape
    assert h >= 128 and w >= 128
    assert d.train.shape[1:] == d.val.shape[1:] == (h, w) and len(d.train) >= 4 and len(d.val) >= 1
    for a in (d.train, d.val, d.test):
        assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert d.masks.shape == (k, h, w) and d.masks.dtype == bool
    assert len(d.defect_types) == len(d.test_names) == len(d.labels) == len(d.has_mask) == k
    assert len(set(d.test_names)) == k
    for img_mask, t, label in zip(d.masks, d.defect_types, d.labels):
        if t == "good":
            assert label == 0 and not img_mask.any()
        else:
            assert label == 1 and 30 <= img_mask.sum() < 0.5 * h * w
    types = set(d.defect_types) - {"good"}
    assert d.structural_types and set(d.structural_types) < types  # >= 1 intensity type
    assert d.defect_types.count("good") >= 2


@pytest.mark.parametrize("spec", textures.BUILTIN)
def test_structural_defects_fool_an_intensity_detector(builtin, spec):
    """|pixel - mean training image| must not find structural defects (the paper's case)."""
    d = builtin[spec]
    score = np.abs(d.test - d.train.mean(0))
    types = np.array(d.defect_types)
    for t in d.structural_types:
        sel = (types == "good") | (types == t)
        auc = roc_auc_score(d.masks[sel].ravel(), score[sel].ravel())
        assert auc < 0.75, (spec, t, auc)


def test_unknown_spec_lists_valid_ones():
    with pytest.raises(InputError, match="fabric1.*mvtec:PATH"):
        textures.load("fabric3")
    with pytest.raises(InputError, match="folder:"):
        textures.load("folder:")


# ---------------------------------------------------------------- folders and export
def test_export_reads_back_identically(builtin, tmp_path):
    d = builtin["nanofibres"]
    out = folders.export(d, tmp_path / "exported")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temp dir renamed
    back = textures.load(f"folder:{out}")
    for f in ("train", "val", "test"):
        np.testing.assert_allclose(getattr(back, f), getattr(d, f), atol=0.51 / 65535)
    np.testing.assert_array_equal(back.masks, d.masks)
    np.testing.assert_array_equal(back.labels, d.labels)
    np.testing.assert_array_equal(back.has_mask, d.has_mask)
    assert back.defect_types == d.defect_types and back.test_names == d.test_names
    assert back.structural_types == d.structural_types
    with pytest.raises(InputError, match="exported"):
        folders.export(d, out)  # never overwrites


def _png(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _mvtec(root, n_train=3, size=128, rgb=False):
    rng = np.random.default_rng(0)
    img = lambda: rng.integers(0, 256, (size, size, 3) if rgb else (size, size), dtype=np.uint8)  # noqa: E731
    for i in range(n_train):
        _png(root / "train" / "good" / f"{i:03d}.png", img())
    _png(root / "test" / "good" / "000.png", img())
    _png(root / "test" / "cut" / "000.png", img())
    m = np.zeros((size, size), np.uint8)
    m[10:30, 10:40] = 255
    _png(root / "ground_truth" / "cut" / "000_mask.png", m)
    _png(root / "test" / "nomask" / "000.png", img())
    return root


def test_mvtec_layout_and_colour(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(folders, "_noted", set())  # notes are said once per process
    root = _mvtec(tmp_path / "cat", n_train=10, rgb=True)
    d = textures.load(f"mvtec:{root}", seed=3)
    assert len(d.train) == 9 and len(d.val) == 1
    assert d.defect_types == ["cut", "good", "nomask"]
    assert list(d.has_mask) == [True, True, False] and list(d.labels) == [1, 0, 1]
    # mvtec: zooms to the MVTec AD protocol's 512 x 512 (128 -> 512: each pixel 4 x 4,
    # the mask nearest-neighbour); folder: keeps the files' size
    assert d.image_shape == (512, 512) and d.spec == f"mvtec:{root}"
    assert d.masks[0].sum() == 20 * 30 * 16 and d.test.dtype == np.float32
    assert "note:" in capsys.readouterr().err
    d2 = textures.load(f"folder:{root}", seed=3)
    assert d2.image_shape == (128, 128) and d2.masks[0].sum() == 20 * 30
    np.testing.assert_array_equal(d.val, [folders.resize_image(v, 512) for v in d2.val])
    assert len(textures.load(f"folder:{root}", small=True).test) == 3


def test_16bit_and_palette(tmp_path):
    a = (np.random.default_rng(0).random((128, 128)) * 65535).astype(np.uint16)
    _png(tmp_path / "a.png", a)
    np.testing.assert_allclose(folders.read_image(tmp_path / "a.png"), a / 65535, atol=1e-7)
    p = Image.fromarray(np.random.default_rng(1).integers(0, 256, (128, 128), dtype=np.uint8)).convert("P")
    p.save(tmp_path / "p.png")
    assert folders.read_image(tmp_path / "p.png").shape == (128, 128)


def test_nanotwice_and_visapp(tmp_path):
    rng = np.random.default_rng(0)
    img = lambda: rng.integers(0, 256, (130, 140), dtype=np.uint8)  # noqa: E731
    m = np.zeros((130, 140), np.uint8)
    m[5:9, 5:9] = 1
    nt = tmp_path / "nt"
    for i in range(5):
        _png(nt / "Normal" / f"n{i}.png", img())
    for i in range(3):
        _png(nt / "Anomalous" / "images" / f"a{i}.png", img())
        _png(nt / "Anomalous" / "gt" / f"a{i}.png", m)
    d = textures.load(f"nanotwice:{nt}")
    assert (len(d.train), len(d.val), len(d.test)) == (4, 1, 3) and d.masks.sum() == 3 * 16
    va = tmp_path / "va"
    for i in range(4):
        _png(va / "train" / f"t{i}.png", img())
    _png(va / "test" / "x1.png", img())
    _png(va / "test" / "x2.png", img())
    _png(va / "ground_truth" / "defective" / "x2_mask.png", m * 255)
    d = textures.load(f"visapp:{va}")
    assert d.defect_types == ["good", "defective"] and d.masks[1].sum() == 16


def _bad(root, name, arr=None, raw=None):
    root = _mvtec(root)
    path = root / name
    if raw is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    else:
        _png(path, arr)
    return root, path


@pytest.mark.parametrize("case", ["zero_byte", "corrupt", "mask_size", "mask_values", "small",
                                  "sizes_differ", "constant", "nan"])
def test_bad_inputs_name_the_file(tmp_path, case):
    ones = np.full((128, 128), 255, np.uint8)
    if case == "zero_byte":
        root, path = _bad(tmp_path / "r", "train/good/zz.png", raw=b"")
    elif case == "corrupt":
        root, path = _bad(tmp_path / "r", "test/good/zz.png", raw=b"this is not a png")
    elif case == "mask_size":
        root, path = _bad(tmp_path / "r", "ground_truth/cut/000_mask.png", ones[:64])
    elif case == "mask_values":
        m = ones.copy()
        m[:5] = 128
        root, path = _bad(tmp_path / "r", "ground_truth/cut/000_mask.png", m)
    elif case == "small":
        root, path = _bad(tmp_path / "r", "train/good/zz.png", ones[:100, :100])
    elif case == "sizes_differ":
        root, path = _bad(tmp_path / "r", "train/good/zz.png",
                          np.random.default_rng(0).integers(0, 255, (160, 128), dtype=np.uint8))
    elif case == "constant":
        root, path = _bad(tmp_path / "r", "test/cut/zz.png", ones)
        _png(root / "ground_truth" / "cut" / "zz_mask.png", ones * 0)
    elif case == "nan":
        root = _mvtec(tmp_path / "r")
        path = root / "train" / "good" / "zz.tif"
        a = np.random.default_rng(0).random((128, 128)).astype(np.float32)
        a[3, 3] = np.nan
        Image.fromarray(a, mode="F").save(path)
    with pytest.raises(InputError, match=path.name) as e:
        textures.load(f"folder:{root}")
    assert "Traceback" not in str(e.value)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        textures.load(f"folder:{tmp_path / 'nowhere'}")
    root = _mvtec(tmp_path / "r")
    for p in (root / "train" / "good").iterdir():
        p.unlink()
    with pytest.raises(InputError, match="good"):
        textures.load(f"mvtec:{root}")
    root = _mvtec(tmp_path / "m")
    (root / "ground_truth" / "cut" / "000_mask.png").unlink()
    with pytest.raises(InputError, match="000"):
        textures.load(f"mvtec:{root}")


# ---------------------------------------------------------------- patch sampler
def test_patch_dataset_shapes_determinism():
    imgs = np.random.default_rng(0).random((3, 200, 200)).astype(np.float32)

    def take(seed, **kw):
        it = iter(patch_dataset(imgs, patch_size=64, batch_size=8, seed=seed, **kw))
        return np.stack([next(it).numpy() for _ in range(2)])

    a = take(0)
    assert a.shape == (2, 8, 64, 64, 1) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1 and a.std() > 0.1
    np.testing.assert_array_equal(a, take(0))
    assert np.abs(a - take(1)).mean() > 0.05
    assert not np.array_equal(a[0], a[1])  # the stream moves on


def test_patch_dataset_crops_and_fallback():
    imgs = np.random.default_rng(0).random((2, 140, 150)).astype(np.float32)
    plain = next(iter(patch_dataset(imgs, 128, 4, seed=0, augment=False))).numpy()[..., 0]
    for p in plain:  # without augmentation a patch is an exact crop of an image
        assert any(np.array_equal(imgs[i, y:y + 128, x:x + 128], p)
                   for i in range(2) for y in range(13) for x in range(23))
    # the default augmentation: each patch is one of the 8 symmetries of an exact crop
    turned = next(iter(patch_dataset(imgs, 128, 16, seed=0))).numpy()[..., 0]
    symmetries = lambda c: [np.rot90(f, k) for f in (c, c[:, ::-1]) for k in range(4)]
    for p in turned:
        assert any(np.array_equal(s, p) for i in range(2) for y in range(13) for x in range(23)
                   for s in symmetries(imgs[i, y:y + 128, x:x + 128]))
    counts = {}  # all eight occur
    big = np.random.default_rng(1).random((1, 130, 130)).astype(np.float32)
    for p in next(iter(patch_dataset(big, 128, 64, seed=3))).numpy()[..., 0]:
        for k, s in enumerate(symmetries(big[0, 1:129, 1:129])):
            if any(np.array_equal(s2, p) for y in range(3) for x in range(3)
                   for s2 in [symmetries(big[0, y:y + 128, x:x + 128])[k]]):
                counts[k] = counts.get(k, 0) + 1
    assert len(counts) == 8
    # any angle: 140 < ceil(128 sqrt 2) + 2 falls back to quarter turns, own pixels
    rot = next(iter(patch_dataset(imgs, 128, 4, seed=0, any_angle=True))).numpy()[..., 0]
    assert rot.shape == (4, 128, 128)
    values = set(np.round(imgs.ravel(), 5))
    assert all(v in values for v in np.round(rot[:, ::17, ::17].ravel(), 5))
    with pytest.raises(InputError, match="smaller"):
        patch_dataset(imgs[:, :100], 128)


def test_patch_rotation_has_no_empty_corners():
    imgs = np.full((1, 200, 200), 0.5, np.float32) + np.random.default_rng(0).random((1, 200, 200)).astype(np.float32) * 0.1
    b = next(iter(patch_dataset(imgs, 128, 16, seed=5, any_angle=True))).numpy()
    assert b.min() >= 0.49  # a corner outside the window would read 0


def test_montage_writes_png(builtin, tmp_path):
    from textures.montage import show
    out = show(builtin["brick"], tmp_path / "m" / "brick.png")
    assert out.exists() and out.stat().st_size > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["brick.png"]
