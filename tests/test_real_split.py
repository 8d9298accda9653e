"""The split of the real photographs (textures/real.py): training, validation and test crops
come from disjoint regions, proved from the crops' recorded boxes; the test images' groups
are the components of their overlaps; groups and boxes survive the cache and subset()."""
import numpy as np
import pytest
import skimage.data
from scipy import ndimage as ndi
from scipy.sparse.csgraph import connected_components

import textures
from textures import real
from textures.dataset import TextureDataset


@pytest.fixture(scope="module")
def datasets():
    return {spec: real.generate(spec, seed=0) for spec in real.SPECS}


def _overlap(a, b):
    """Whether boxes (y0, x0, y1, x1) share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize("spec", real.SPECS)
def test_train_validation_and_test_crops_share_no_pixel(datasets, spec):
    d = datasets[spec]
    assert {k: len(v) for k, v in d.boxes.items()} == {"train": 90, "val": 18, "test": 24}
    owner = np.zeros((3, 512, 512), bool)  # which sets use each pixel of the photo
    for s, name in enumerate(("train", "val", "test")):
        for y0, x0, y1, x1 in d.boxes[name]:
            assert 0 <= y0 and 0 <= x0 and y1 <= 512 and x1 <= 512
            assert (y1 - y0, x1 - x0) == d.image_shape == (128, 128)
            owner[s, y0:y1, x0:x1] = True
    assert owner.sum(axis=0).max() == 1  # no pixel in two sets: validation is unseen too
    pairs = [(a, b) for x, y in (("train", "val"), ("train", "test"), ("val", "test"))
             for a in d.boxes[x] for b in d.boxes[y]]
    assert not any(_overlap(a, b) for a, b in pairs)  # the same, box against box
    assert owner[1].sum() > 0.5 * 256 * 128 and owner[0].sum() > 3 * 128 * 128


@pytest.mark.parametrize("spec", real.SPECS)
def test_the_boxes_are_where_the_pixels_came_from(datasets, spec):
    """Every defect-free image is its box of the photo (mirrored or not); a defective
    image is its box away from the defect. (Not a swirl: its twist, exp(-r^2 / R^2),
    still moves pixels a little beyond the mask.)"""
    d = datasets[spec]
    photo = getattr(skimage.data, spec)().astype(np.float32) / 255

    def cuts(box):
        y0, x0, y1, x1 = box
        return photo[y0:y1, x0:x1], photo[y0:y1, x0:x1][:, ::-1]

    for name in ("train", "val"):
        for img, box in zip(getattr(d, name), d.boxes[name]):
            assert any(np.array_equal(img, c) for c in cuts(box))
    for img, mask, box, kind in zip(d.test, d.masks, d.boxes["test"], d.defect_types):
        if kind == "good":
            assert any(np.array_equal(img, c) for c in cuts(box))
        elif kind != "swirl":
            far = ~ndi.binary_dilation(mask, iterations=8)
            assert max(np.mean(np.abs(img - c)[far] < 0.02) for c in cuts(box)) > 0.99


def test_test_groups_are_the_overlap_components(datasets):
    d = datasets["brick"]
    boxes = d.boxes["test"]
    adjacency = np.array([[_overlap(a, b) for b in boxes] for a in boxes])
    n, components = connected_components(adjacency, directed=False)
    assert n == len(set(d.groups.tolist())) == 8
    # the same partition: images share a group exactly when they share a component
    assert np.array_equal(d.groups[:, None] == d.groups, components[:, None] == components)
    for g in set(d.groups.tolist()):  # each group: one defect-free image, two defective
        assert sorted(d.labels[d.groups == g]) == [0, 1, 1]
    types = np.array(d.defect_types)
    rows = {t: {boxes[i][0] for i in np.flatnonzero(types == t)} for t in real.TYPES}
    assert all(len(r) == 3 for r in rows.values())  # each type on three of the four rows


def test_groups_and_boxes_survive_the_cache_and_subset(tmp_path, monkeypatch):
    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path))
    made = textures.load("gravel", seed=0, small=True)
    read = textures.load("gravel", seed=0, small=True)
    assert len(list(tmp_path.iterdir())) == 1  # the second load read the file
    assert made.groups.tolist() == read.groups.tolist() == [0, 4, 0, 4, 0, 4]
    assert made.boxes.keys() == read.boxes.keys() == {"train", "val", "test"}
    for k in made.boxes:
        np.testing.assert_array_equal(made.boxes[k], read.boxes[k])
    full = real.generate("brick", seed=0)
    sub = full.subset(max_good=3, max_per_type=1, max_val=5)
    keep = [0, 1, 2, 8, 12, 16, 20]  # 3 defect-free, then the first of each type
    np.testing.assert_array_equal(sub.test, full.test[keep])
    np.testing.assert_array_equal(sub.groups, full.groups[keep])
    np.testing.assert_array_equal(sub.boxes["test"], full.boxes["test"][keep])
    np.testing.assert_array_equal(sub.boxes["val"], full.boxes["val"][:5])
    np.testing.assert_array_equal(sub.boxes["train"], full.boxes["train"])


def test_datasets_without_groups_make_every_image_its_own():
    img = np.zeros((3, 8, 8), np.float32)
    d = TextureDataset(spec="t", train=img, val=img, test=img, masks=img > 0,
                       has_mask=np.ones(3, bool), labels=np.zeros(3, int),
                       defect_types=["good"] * 3, test_names=["a", "b", "c"])
    assert d.groups.tolist() == [0, 1, 2] and d.boxes == {}
    assert d.subset(max_good=2).groups.tolist() == [0, 1]
    with pytest.raises(ValueError, match="one entry per test image"):
        TextureDataset(**{**d.__dict__, "groups": np.zeros(2, int)})
