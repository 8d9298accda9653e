"""``segment``: the practical use of the method on images nobody has labelled.

The model folder (written by ``train``) names its dataset and profile in run.json; the
threshold is chosen on that dataset's defect-free validation images (never on the images
being segmented): the same subset of them that ``evaluate`` uses at that profile
(``max_val``), so the threshold is the one ``evaluate`` reports. Then every image gets a
heat-map overlay and a binary mask.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

import textures
from errors import InputError
from evaluation.maps import maps_for
from evaluation.thresholds import max_region_threshold
from files import atomic_write_bytes
from methods import METHODS
from reproduce import profiles
from reproduce.plotting import pyplot, save_figure
from textures.folders import read_image
from training import load_model


def segment(model_dir: Path, images, out: Path) -> None:
    if not (model_dir / "run.json").exists() or not (model_dir / "model.keras").exists():
        raise InputError(f"{model_dir} is not a trained model folder (no model.keras/run.json); "
                         "make one with `python -m reproduce train ... --out DIR`")
    info = json.loads((model_dir / "run.json").read_text())
    method = info["method"]
    profile = {**profiles.get(info["profile"]["name"]), **info["profile"]}
    pics = [read_image(Path(p)) for p in images]
    map_name = METHODS[method].main_map
    model = load_model(model_dir)
    ds = textures.load(info["dataset"], seed=info.get("data_seed", info["seed"]), small=profile["small_data"])
    # the validation images `evaluate` chooses its threshold on (the profile's subset), so
    # that a model segments an image here exactly as `evaluate` would
    ds = ds.subset(profile["max_test_good"], profile["max_test_per_type"], profile["max_val"])
    threshold = max_region_threshold(maps_for(model, method, ds.val, profile, (map_name,))[map_name],
                                     profile["min_defect_area"])
    plt = pyplot()
    for path, pic in zip(images, pics):
        amap = maps_for(model, method, pic[None], profile, (map_name,))[map_name][0]
        stem = Path(path).stem
        fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
        axes[0].imshow(pic, cmap="gray", vmin=0, vmax=1)
        im = axes[0].imshow(amap, cmap="inferno", alpha=0.5)
        fig.colorbar(im, ax=axes[0], label=f"{map_name} anomaly score")
        axes[0].set_title(f"{stem}: {map_name} map")
        axes[1].imshow(pic, cmap="gray", vmin=0, vmax=1)
        axes[1].contour(amap > threshold, levels=[0.5], colors="red")
        axes[1].set_title(f"segmentation at validation threshold {threshold:.3g}")
        for ax in axes:
            ax.axis("off")
        save_figure(fig, out / f"{stem}_overlay.png", dpi=100)
        from PIL import Image
        mask_buf = io.BytesIO()
        Image.fromarray(((amap > threshold) * 255).astype(np.uint8)).save(mask_buf, format="PNG")
        atomic_write_bytes(out / f"{stem}_mask.png", mask_buf.getvalue())
        print(f"{stem}: {(amap > threshold).mean():.2%} of pixels anomalous -> {out}")
