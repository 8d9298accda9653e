"""Published numbers to set beside ours, as data (sources: docs/PAPER_NOTES.md,
"The published numbers").

None of them is on data of this repository, so they are context, never a target: the
paper's own datasets (NanoTWICE, its woven fabrics) are not downloadable here, and MVTec
AD is a different benchmark. ``table_auc`` prints them in a separate, labelled section.
"""
from __future__ import annotations

MVTEC_SOURCE = ("Bergmann et al., MVTec AD, CVPR 2019, Table 3 (texture categories), "
                "as quoted in docs/PAPER_NOTES.md: AE(SSIM) and AE(l2), the "
                "autoencoders of this paper")
# category -> {method: (per-region overlap, pixel ROC AUC)}
MVTEC_TEXTURES = {
    "carpet":  {"AE (SSIM)": (0.69, 0.87), "AE (l2)": (0.38, 0.59)},
    "grid":    {"AE (SSIM)": (0.88, 0.94), "AE (l2)": (0.83, 0.90)},
    "leather": {"AE (SSIM)": (0.71, 0.78), "AE (l2)": (0.67, 0.75)},
    "tile":    {"AE (SSIM)": (0.04, 0.59), "AE (l2)": (0.23, 0.51)},
    "wood":    {"AE (SSIM)": (0.36, 0.73), "AE (l2)": (0.29, 0.73)},
}

# how [MVTec AD] ran its two autoencoders on the texture categories (docs/PAPER_NOTES.md,
# "MVTec AD at the published protocol"): what `mvtec:PATH` and the profiles reproduce
MVTEC_PROTOCOL = {
    "image_size": 512,        # not stated for the AEs; 4.1.1 and 4.1.3 zoom textures to 512
    "patch_size": 128,        # 4.1.2
    "stride": 30,             # 4.1.2: patches reconstructed at stride 30, maps averaged
    "training_patches": 10_000,  # 4.2: each category augmented to 10,000 training patches
    "latent_dim": 100,        # 4.1.2
    "ssim_window": 11,        # 4.1.2
}
# category -> (defect-free training images, test images) in MVTec AD ([MVTec AD] Table 1,
# as the dataset ships): what a full evaluation of a category reads
MVTEC_IMAGES = {"carpet": (280, 117), "grid": (264, 78), "leather": (245, 124),
                "tile": (230, 117), "wood": (247, 79)}
METRIC_DEFINITIONS = [
    "Pixel ROC AUC: every pixel of the category's test images one sample, the true-positive "
    "rate the share of all defect pixels at or above the threshold, the false-positive rate "
    "the share of all defect-free pixels ([MVTec AD] 4.3; evaluation/metrics.py "
    "`pixel_auroc`): the same definition on both sides.",
    "Per-region overlap at the validation threshold ([MVTec AD] Table 3, their segmentation "
    "column): one threshold, raised on defect-free validation images until their largest "
    "anomalous region is just below a minimum defect area; then, over every connected "
    "defect region of the ground truth, the mean share of the region's pixels segmented "
    "(`map > threshold`). One point, dependent on the threshold rule; false positives "
    "do not lower it. Ours is computed the same way from the first seed's maps, with the "
    "profile's minimum area (`min_defect_area`) where [MVTec AD] chose one per category.",
    "AUPRO (FPR <= 0.3), ours only: the area under the per-region-overlap curve against the "
    "false-positive rate over all thresholds, up to FPR 0.3, divided by 0.3 ([MVTec IJCV]; "
    "evaluation/metrics.py `aupro`). No threshold; false positives count through the "
    "FPR axis. It is not the number of [MVTec AD] Table 3 and the two are not comparable.",
]


def mvtec_category(spec: str) -> str | None:
    """The MVTec AD texture category a folder spec (``mvtec:`` or ``folder:``) names by
    its folder's name (``mvtec:/data/mvtec_ad/carpet`` -> ``carpet``), else None."""
    kind, sep, path = str(spec).strip().partition(":")
    if not sep or kind not in ("mvtec", "folder"):
        return None
    head, at, tail = path.rpartition("@")  # a size suffix (textures/__init__.py)
    if at and head and tail.isdigit():
        path = head
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    return name if name in MVTEC_TEXTURES else None


HEADLINE_SOURCE = ("Bergmann et al., VISAPP 2019 (arXiv 1807.02011), as reported in a "
                   "summary of the paper (docs/PAPER_NOTES.md, 'The claim'); the "
                   "paper's table itself was not available to us")
# pixel ROC AUC on the paper's hardest dataset
HEADLINE = {"l2-AE": 0.688, "SSIM-AE": 0.966}


def mvtec_rows() -> list[dict]:
    """One row per (category, method): category, method, pro, pixel_auroc, source."""
    return [{"category": category, "method": method, "pro": pro, "pixel_auroc": auc,
             "source": MVTEC_SOURCE}
            for category, methods in MVTEC_TEXTURES.items()
            for method, (pro, auc) in methods.items()]


def markdown() -> str:
    """The published numbers as a Markdown section with their sources."""
    lines = ["## Published numbers on other data (not comparable one-to-one)", "",
             "These come from the paper and its follow-up on datasets that are not "
             "part of this reproduction; they show the direction and size of the effect "
             "the paper reports, not values our numbers should equal.", "",
             f"Headline: pixel ROC AUC {HEADLINE['l2-AE']:.3f} (l2-AE) -> "
             f"{HEADLINE['SSIM-AE']:.3f} (SSIM-AE) on the paper's hardest dataset. "
             f"Source: {HEADLINE_SOURCE}.", "",
             "MVTec AD texture categories, per-region overlap / pixel ROC AUC. "
             f"Source: {MVTEC_SOURCE}.", "",
             "| category | AE (SSIM) | AE (l2) |", "|---|---|---|"]
    for category, methods in MVTEC_TEXTURES.items():
        cells = [f"{pro:.2f} / {auc:.2f}" for pro, auc in
                 (methods["AE (SSIM)"], methods["AE (l2)"])]
        lines.append(f"| {category} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
