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
