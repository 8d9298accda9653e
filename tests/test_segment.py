"""``segment`` thresholds and masks an image exactly as ``evaluate`` would.

One smoke-sized l2-AE trained through the real code (``evaluate`` trains it into a
temporary cache), at the smoke profile's values except: windows at stride 30 (the paper's)
and a validation subset (``max_val``) smaller than the dataset's validation set, so that
choosing the threshold on all validation images would give another threshold.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

SPEC = "fabric2"  # small: 256 x 256 images, 2 validation images (the second sets the higher threshold)


def _largest_region(amap, t):
    """Largest 8-connected region of amap > t, in pixels (0 if none)."""
    labels, n = ndimage.label(amap > t, structure=np.ones((3, 3), int))
    return int(np.bincount(labels.ravel())[1:].max()) if n else 0


def _mvtec_rule_holds_exactly_at(val_maps, min_area, t):
    """t is the lowest threshold at which no validation map has a region of min_area px
    or more above it: true at t, false at the next lower value of the maps (the set
    {map > t} only changes at the maps' own values)."""
    values = np.unique(val_maps)
    assert t in values
    lower = values[values < t]
    holds = all(_largest_region(m, t) < min_area for m in val_maps)
    fails_below = lower.size == 0 or any(_largest_region(m, lower[-1]) >= min_area for m in val_maps)
    return holds and fails_below


@pytest.mark.slow
def test_segment_uses_the_threshold_and_the_map_of_evaluate(tmp_path, monkeypatch):
    import textures
    from reproduce import profiles
    from reproduce import segment as segment_module
    import training
    from reproduce.__main__ import main
    from evaluation.maps import maps_for
    from reproduce.evaluate import evaluate
    from textures.folders import read_image

    monkeypatch.setenv("SSIM_AE_CACHE", str(tmp_path / "cache"))
    column = profiles.NAMES.index("smoke")
    for key, value in {"stride": 30, "max_val": 1, "max_test_good": 1, "max_test_per_type": 1}.items():
        values = list(profiles.PROFILES[key])
        values[column] = value
        monkeypatch.setitem(profiles.PROFILES, key, tuple(values))
    profile = profiles.get("smoke")
    full = textures.load(SPEC, seed=profile["seeds"][0], small=True)
    assert len(full.val) > profile["max_val"]

    evaluate(SPEC, ["l2_ae"], profile, tmp_path / "eval", log=lambda message: None)
    models = json.loads((tmp_path / "eval" / "run.json").read_text())["models"]
    (model_dir,) = [folder for key, folder in models.items() if key.split("/")[0] == "l2_ae"]
    with np.load(tmp_path / "eval" / "maps.npz") as z:
        evaluate_threshold = float(z["threshold_l2"])

    # the validation maps, recomputed: the first max_val validation images
    model = training.load_model(Path(model_dir))
    val_maps = maps_for(model, "l2_ae", full.val[:profile["max_val"]], profile, ("l2",))["l2"]
    min_area = profile["min_defect_area"]
    assert _mvtec_rule_holds_exactly_at(val_maps, min_area, evaluate_threshold)
    # ... and the rule on every validation image gives another threshold: the test can tell
    all_val = maps_for(model, "l2_ae", full.val, profile, ("l2",))["l2"]
    assert not _mvtec_rule_holds_exactly_at(all_val, min_area, evaluate_threshold)

    # a 512 x 512 image: four test images of the dataset, quantised to 8 bits as a PNG
    tiles = full.test[-4:]
    picture = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])
    assert picture.shape == (512, 512)
    path = tmp_path / "big.png"
    Image.fromarray(np.round(picture * 255).astype(np.uint8)).save(path)

    seen = []
    real_rule = segment_module.max_region_threshold

    def recording_rule(maps, area):
        seen.append(real_rule(maps, area))
        return seen[-1]

    monkeypatch.setattr(segment_module, "max_region_threshold", recording_rule)
    assert main(["segment", "--model", model_dir, "--images", str(path),
                 "--out", str(tmp_path / "seg")]) == 0
    assert seen == [evaluate_threshold]  # float32 values both: exactly equal

    mask = np.array(Image.open(tmp_path / "seg" / "big_mask.png"))
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 255}
    amap = maps_for(model, "l2_ae", read_image(path)[None], profile, ("l2",))["l2"][0]
    expected = amap > evaluate_threshold
    np.testing.assert_array_equal(mask == 255, expected)
    assert 0 < expected.sum() < expected.size  # a mask with something in it, not everything
