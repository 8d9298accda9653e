"""What a dataset's defects are, measured on the images: ``python -m reproduce datasets stats``.

A generator's specification (docs/PAPER_NOTES.md, "NanoTWICE and the nanofibres
generator") is checked against what it draws, not against its parameters. For each
dataset (one seed; the default, full size unless ``--small``) this writes, per defect kind:

* the number of test images, and the defect area of each defective image in pixels and
  in % of the image (min / median / max over the images);
* per defect (a connected region of a mask): its equivalent diameter (that of a disc of
  the same area), and the mean grey value and local standard deviation inside it against
  those of a ring around it (``RING`` px outside, other defects excluded). Inside means
  the region less a ``INSET`` px border, so that the window does not straddle the edge;
* of the defect-free training images: the width of the bright structures (the fibres),
  measured as 2 d - 1 at the pixels of their skeleton, d the distance to the nearest dark
  pixel (an odd w px wide stripe has d = (w + 1) / 2 on its centre line). Bright = above
  the local mean (Gaussian, sigma ``LOCAL`` px), so that a fibre deep in the mat counts
  as well as one on top; the image is first smoothed over ``SMOOTH`` px against noise.

The local standard deviation is taken over SSIM's window (Gaussian, sigma 1.5, 11 x 11;
[SSIM-AE] Section 3.1.4): the contrast its c term compares. Nothing here trains or runs a
detector. Written as Markdown (``--out``) and JSON beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from files import atomic_write_text

SIGMA, RADIUS = 1.5, 5     # SSIM's Gaussian window: sigma 1.5, 11 x 11
RING, INSET = (4, 12), 3   # px: the ring around a defect; the border left out inside it
LOCAL, SMOOTH = 6.0, 1.0   # px: the fibre measurement's local mean and smoothing


def local_std(img: np.ndarray) -> np.ndarray:
    """Standard deviation of the grey values over SSIM's window around each pixel."""
    g = lambda a: ndi.gaussian_filter(a, SIGMA, truncate=RADIUS / SIGMA)  # noqa: E731
    x = img.astype(np.float64)
    return np.sqrt(np.maximum(g(x * x) - g(x) ** 2, 0))


def defects(img: np.ndarray, mask: np.ndarray) -> list[dict]:
    """Each connected region of ``mask``: area, equivalent diameter, and mean grey and
    local standard deviation inside it and in a ring around it."""
    labels, n = ndi.label(mask)
    std = local_std(img)
    rows = []
    for k in range(1, n + 1):
        region = labels == k
        inner = ndi.binary_erosion(region, iterations=INSET)
        inner = inner if inner.any() else region
        ring = (ndi.binary_dilation(region, iterations=RING[1])
                & ~ndi.binary_dilation(mask, iterations=RING[0]))
        area = int(region.sum())
        rows.append(dict(area_px=area, diameter_px=float(2 * np.sqrt(area / np.pi)),
                         grey_in=float(img[inner].mean()), grey_ring=float(img[ring].mean()),
                         std_in=float(std[inner].mean()), std_ring=float(std[ring].mean())))
    return rows


def fibre_width(images: np.ndarray) -> dict:
    """Width of the bright structures of defect-free images (see the module docstring)."""
    from skimage.morphology import skeletonize
    widths = []
    for img in images:
        bright = ndi.gaussian_filter(img, SMOOTH) > ndi.gaussian_filter(img, LOCAL)
        dist = ndi.distance_transform_edt(bright)
        widths.append(2 * dist[skeletonize(bright)] - 1)
    w = np.concatenate(widths)
    return dict(median_px=float(np.median(w)), p10_px=float(np.percentile(w, 10)),
                p90_px=float(np.percentile(w, 90)), local_sd=float(np.mean(
                    [local_std(img).mean() for img in images])))


def _summary(values) -> dict:
    v = np.asarray(values, float)
    if not v.size:
        return {}
    return dict(min=float(v.min()), median=float(np.median(v)), max=float(v.max()))


def stats(ds) -> dict:
    """The statistics of one TextureDataset (see the module docstring)."""
    h, w = ds.image_shape
    types = np.array(ds.defect_types)
    out = dict(spec=ds.spec, source=ds.source, image_shape=[h, w], train=len(ds.train),
               val=len(ds.val), test=len(ds.test), structural=list(ds.structural_types),
               fibres=fibre_width(ds.train), kinds={})
    total = int(ds.masks[ds.labels == 1].sum())
    for kind in dict.fromkeys(ds.defect_types):
        chosen = np.flatnonzero(types == kind)
        entry = dict(images=len(chosen))
        if kind != "good":
            areas = [int(ds.masks[i].sum()) for i in chosen]
            regions = [r for i in chosen for r in defects(ds.test[i], ds.masks[i])]
            entry.update(
                area_px=_summary(areas), area_pct=_summary(100 * np.array(areas) / (h * w)),
                share_of_defect_pixels=sum(areas) / max(total, 1), defects=len(regions),
                **{key: _summary([r[key] for r in regions]) for key in
                   ("diameter_px", "grey_in", "grey_ring", "std_in", "std_ring")},
                std_ratio=_summary([r["std_in"] / r["std_ring"] for r in regions]))
        out["kinds"][kind] = entry
    return out


def _fmt(s: dict, digits: int = 0) -> str:
    if not s:
        return ""
    f = f"{{:.{digits}f}}"
    return f"{f.format(s['median'])} ({f.format(s['min'])}-{f.format(s['max'])})"


def markdown(results: list[dict], seed: int, small: bool) -> str:
    """The tables of ``write``: one row per dataset and defect kind."""
    lines = [f"# Defect statistics of the generated datasets (seed {seed}, "
             f"{'small' if small else 'full'} size)", "",
             "Computed from the generated images and masks by `python -m reproduce datasets "
             "stats` (reproduce/dataset_stats.py, which defines every column); no model was "
             "trained and no detector run. Each cell: median (min-max); over defective images "
             "for the areas, over defects (connected mask regions) for the rest. Local sd: "
             "standard deviation of the grey values over SSIM's 11 x 11 Gaussian window; "
             f"ring: {RING[0]}-{RING[1]} px outside the defect.", "",
             "| dataset | kind | test images | defects | area per image, px | area per image, % "
             "| share of defect pixels | diameter, px | grey inside | grey ring | local sd "
             "inside | local sd ring | sd inside / ring |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for kind, e in r["kinds"].items():
            if kind == "good":
                lines.append(f"| {r['spec']} | good | {e['images']} | | | | | | | | | | |")
                continue
            tag = " (structural)" if kind in r["structural"] else ""
            lines.append(
                f"| {r['spec']} | {kind}{tag} | {e['images']} | {e['defects']} "
                f"| {_fmt(e['area_px'])} | {_fmt(e['area_pct'], 2)} "
                f"| {100 * e['share_of_defect_pixels']:.0f} % | {_fmt(e['diameter_px'])} "
                f"| {_fmt(e['grey_in'], 2)} | {_fmt(e['grey_ring'], 2)} | {_fmt(e['std_in'], 3)} "
                f"| {_fmt(e['std_ring'], 3)} | {_fmt(e['std_ratio'], 2)} |")
    lines += ["", "Images, and the fibres of the defect-free training images (width = 2 d - 1 "
              "on the skeleton of the pixels brighter than their local mean, d the distance "
              f"to the nearest other pixel; local mean: Gaussian, sigma {LOCAL:g} px):", "",
              "| dataset | image | train / val / test | fibre width, px: median (10th-90th "
              "percentile) | local sd, mean over the image |", "|---|---|---|---|---|"]
    for r in results:
        f = r["fibres"]
        lines.append(f"| {r['spec']} | {r['image_shape'][0]} x {r['image_shape'][1]} "
                     f"| {r['train']} / {r['val']} / {r['test']} | {f['median_px']:.1f} "
                     f"({f['p10_px']:.0f}-{f['p90_px']:.0f}) | {f['local_sd']:.3f} |")
    return "\n".join(lines) + "\n"


def write(specs: list[str], out: Path, seed: int = 0, small: bool = False) -> list[Path]:
    """Load each dataset, measure it, write ``out`` (Markdown) and ``out`` with .json."""
    import textures
    results = [stats(textures.load(spec, seed=seed, small=small)) for spec in specs]
    out = Path(out)
    json_path = out.with_suffix(".json")
    atomic_write_text(out, markdown(results, seed, small))
    atomic_write_text(json_path, json.dumps(dict(seed=seed, small=small, datasets=results),
                                            indent=1) + "\n")
    return [out, json_path]
