"""The nanofibres generator against its specification (textures/nanofibres.py,
docs/PAPER_NOTES.md "NanoTWICE and the nanofibres generator"), measured on what it draws:
sizes and area shares of each defect kind at full size, a film's missing contrast, dust
larger than a fibre is wide, clean training images, determinism; and the old generator,
``nanofibres_v3``, still drawing what it drew before the new one existed."""
import zlib

import numpy as np
import pytest

import textures
from reproduce.dataset_stats import defects, fibre_width, local_std
from textures import nanofibres as N
from textures import synthetic

FULL = (512, 512)


@pytest.fixture(scope="module")
def drawn():
    """Defect-free and defective images at full size, each kind several times."""
    rng = np.random.default_rng(2027)
    return {kind: [N.draw(rng, FULL, kind) for _ in range(n)]
            for kind, n in (("good", 3), ("flattened", 6), ("dust", 6))}


@pytest.fixture(scope="module")
def small():
    return N.generate("nanofibres", seed=0, small=True)


def _bounds(sizes, count, shape=FULL):
    """Equivalent diameters (px) and per-image area shares the spec allows: blobs of the
    drawn diameter, squeezed to 0.6 of it at most (ellipse and wobble, defects.blob), grown
    by the blended edge the mask includes."""
    lo = N.WIDTH[0] * sizes[0]
    hi = min(N.WIDTH[0] * sizes[1], 0.35 * min(shape))
    d_lo, d_hi = 0.6 * lo, 1.15 * hi + 8
    area = np.pi / 4 * np.array([d_lo, d_hi]) ** 2 / (shape[0] * shape[1])
    return (d_lo, d_hi), (area[0], count[1] * area[1])


@pytest.mark.parametrize("kind,sizes,count", [("flattened", N.FILM_SIZE, N.FILMS),
                                              ("dust", N.DUST_SIZE, N.SPECKS)])
def test_sizes_and_area_share(drawn, kind, sizes, count):
    (d_lo, d_hi), (share_lo, share_hi) = _bounds(sizes, count)
    diameters = []
    for img, mask in drawn[kind]:
        assert mask.any()
        found = defects(img, mask)
        assert count[0] <= len(found) <= count[1]
        diameters += [d["diameter_px"] for d in found]
        assert share_lo <= mask.mean() <= share_hi, (kind, mask.mean())
    assert d_lo <= min(diameters) and max(diameters) <= d_hi, (kind, diameters)
    assert max(diameters) > 1.5 * min(diameters)  # a range of sizes, fine and coarse


def test_films_are_smooth_at_the_mats_mean_grey(drawn):
    """The film's local standard deviation (SSIM's window) is far below the fibres', and
    it was not rescaled to their spread; its grey is the mat's mean."""
    texture_sd = np.mean([local_std(img).mean() for img, _ in drawn["good"]])
    for img, mask in drawn["flattened"]:
        for d in defects(img, mask):
            assert d["std_in"] < 0.5 * texture_sd and d["std_in"] < 0.5 * d["std_ring"], d
            assert abs(d["grey_in"] - img.mean()) < 0.1, d


def test_dust_is_a_bright_body_several_fibres_wide(drawn):
    width = fibre_width(np.stack([img for img, _ in drawn["good"]]))["median_px"]
    assert N.WIDTH[2] <= width <= N.WIDTH[3]  # the measured fibres are as specified
    for img, mask in drawn["dust"]:
        for d in defects(img, mask):
            assert d["diameter_px"] > 2.5 * width, (d, width)
            assert d["grey_in"] > d["grey_ring"] + 0.15, d


def test_dataset_layout_and_clean_training_images(small):
    d = small
    assert d.spec == "nanofibres" and d.structural_types == ["flattened"]
    assert set(d.defect_types) == {"good", *N.KINDS}
    for mask, kind in zip(d.masks, d.defect_types):
        assert mask.any() == (kind != "good")
    # the training and validation images are the defect-free draws of their streams
    streams = np.random.SeedSequence([0, zlib.crc32(b"nanofibres"), 1])
    streams = streams.spawn(len(d.train) + len(d.val))
    for img, ss in zip(np.concatenate([d.train, d.val]), streams):
        again, mask = N.draw(np.random.default_rng(ss), img.shape, "good")
        np.testing.assert_array_equal(img, again)
        assert not mask.any()


def test_same_seed_same_images_other_seed_other_images(small):
    again = N.generate("nanofibres", seed=0, small=True)
    for f in ("train", "val", "test", "masks"):
        np.testing.assert_array_equal(getattr(small, f), getattr(again, f))
    other = N.generate("nanofibres", seed=1, small=True)
    assert np.abs(small.train - other.train).mean() > 0.01
    assert np.abs(small.test - other.test).mean() > 0.01


def test_registered_and_the_old_generator_unchanged():
    assert "nanofibres" in textures.DEFAULT_RUN and "nanofibres_v3" not in textures.DEFAULT_RUN
    assert {"nanofibres", "nanofibres_v3"} <= set(textures.BUILTIN)
    old = synthetic.generate("nanofibres_v3", seed=0, small=True)
    # what `nanofibres` drew (seed 0, small) before it became nanofibres_v3
    assert old.defect_types == ["good", "good", "compressed", "reoriented", "dust"]
    np.testing.assert_allclose(old.test.mean((1, 2)),
                               [0.406562, 0.425671, 0.424622, 0.428436, 0.406828], atol=2e-6)
    np.testing.assert_allclose(old.train.mean((1, 2)), [0.379955, 0.427207, 0.413978,
                                                        0.425213, 0.43056, 0.430683], atol=2e-6)
    np.testing.assert_allclose(old.masks.sum((1, 2)), [0, 0, 798, 503, 64], atol=3)
