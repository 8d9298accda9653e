"""Published numbers to set beside ours, as data (sources: docs/PAPER_NOTES.md,
"The paper's own results, per dataset" and "The published numbers").

Two kinds. [SSIM-AE]'s own results on its own datasets (NanoTWICE, two woven fabrics),
one cell per (dataset, anomaly map) with the value where one was obtained and, always,
its status and source: ``PAPER_RESULTS``, ``paper_rows``, ``paper_markdown``. Those
datasets are not downloadable here; each has a stand-in of this repository
(``PaperDataset.stand_in``), so a paper cell and our number on its stand-in are a
comparison of the effect, not of equal data. And [MVTec AD]'s numbers for the same two
autoencoders on a different benchmark (``MVTEC_TEXTURES``): context, never a target.
``table_auc`` prints both in a separate, labelled section; ``published_values`` gives every
number with a key that names its source, for a report or verify to cite.
"""
from __future__ import annotations

from dataclasses import dataclass

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


# [SSIM-AE]'s headline: the only number of its results we hold, and not from the paper
# itself (docs/PAPER_NOTES.md, "The paper's own results, per dataset")
HEADLINE_URL = "https://www.emergentmind.com/articles/1807.02011"
HEADLINE_QUOTE = "Empirical results show a dramatic AUC improvement from 0.688 to 0.966"
HEADLINE_SOURCE = ("a machine-written summary of [SSIM-AE] (arXiv 1807.02011v3) at "
                   f"{HEADLINE_URL}: \"{HEADLINE_QUOTE}\". Not the paper's own table, which "
                   "was not found in any stored copy; the summary names neither the "
                   "dataset nor the kind of AUC (docs/PAPER_NOTES.md)")
HEADLINE_DATASET = None  # the source names no dataset: not assigned to any PAPER_DATASETS row
# AUC, l2-AE -> SSIM-AE (the summary sets SSIM-AE against "traditional l2 metrics")
HEADLINE = {"l2-AE": 0.688, "SSIM-AE": 0.966}


@dataclass(frozen=True)
class PaperDataset:
    """A dataset of [SSIM-AE] and the dataset of this repository that stands in for it."""
    name: str          # as the paper names it
    description: str   # what it is, with the source of that
    stand_in: str      # the dataset spec here (textures/__init__.py) that stands in for it


@dataclass(frozen=True)
class PaperCell:
    """One published number of [SSIM-AE]: a value where one was obtained, else None."""
    value: float | None
    status: str        # a key of CELL_STATUS
    source: str        # where the value was read, or where it was looked for


CELL_STATUS = {
    "table": "read in a table of the paper",
    "text": "read in the paper's text",
    "figure": "read off a figure of the paper (approximate)",
    "summary": "quoted from a summary of the paper, not from the paper",
    "not obtained": "no stored copy of the paper's results section was found",
}
# the metric a cell holds: ours, pooled pixel ROC AUC; that the paper reports this kind of
# AUC per dataset rests on summaries (docs/PAPER_NOTES.md), not on its read text
PAPER_METRIC = "pixel ROC AUC"
# the maps of the paper's methods (methods.MAPS names and labels), in its order
PAPER_MAPS = {"l2": "l2-AE", "ssim": "SSIM-AE", "vae_kl": "VAE (KL)",
              "vae_rp": "VAE (recon. prob.)", "fm_l2": "FM-AE"}
PAPER_DATASETS = {
    "nanotwice": PaperDataset(
        "NanoTWICE", "45 grey SEM images of a nanofibrous material, 5 defect-free for "
        "training, 40 with dust or flattened areas (Carrera et al. 2017; [MVTec AD] 2.1.2)",
        "nanofibres"),
    "woven_1": PaperDataset(
        "woven fabric texture 1", "one of the \"novel dataset of two woven fabrics\" of "
        "[SSIM-AE] (abstract of arXiv v3 and of the VISAPP version)", "fabric1"),
    "woven_2": PaperDataset(
        "woven fabric texture 2", "the other woven fabric of that dataset", "fabric2"),
}
NOT_OBTAINED = ("not obtained: the stored copies of [SSIM-AE] (scitepress.org VISAPP PDF "
                "text, ar5iv, vdocuments, deepai, groundai) hold only their openings; its "
                "Section 4 (results) was not found (docs/PAPER_NOTES.md)")
PAPER_RESULTS = {dataset: {m: PaperCell(None, "not obtained", NOT_OBTAINED) for m in PAPER_MAPS}
                 for dataset in PAPER_DATASETS}

# what the paper's own text says of its results, where no number was read: (datasets, the
# words, where they stand); read in the stored openings of the paper's copies
PAPER_STATEMENTS = (
    (("nanotwice", "woven_1", "woven_2"),
     "It achieves significant performance gains on a challenging real-world dataset of "
     "nanofibrous materials and a novel dataset of two woven fabrics over state-of-the-art "
     "approaches for unsupervised defect segmentation that use per-pixel reconstruction "
     "error metrics.",
     "abstract, VISAPP 2019 (scitepress.org/publishedPapers/2019/73645/pdf/index.html) "
     "and arXiv (ar5iv.labs.arxiv.org/html/1807.02011)"),
    (("nanotwice",),
     "Our approach achieves state-of-the-art performance on a real-world dataset of "
     "nanofibrous materials, while being trained end-to-end without requiring additional "
     "priors such as pretrained networks or handcrafted features.",
     "abstract of arXiv 1807.02011v1 (deepai.org and groundai.com renderings), which "
     "names no woven fabrics"),
    (("nanotwice", "woven_1", "woven_2"),
     "In all our experiments, switching from per-pixel to perceptual losses yields "
     "significant gains in performance, sometimes enhancing the method from a complete "
     "failure to a satisfactory defect segmentation result.",
     "the paragraph just before Section 3 (Methodology)"),
    (("nanotwice", "woven_1", "woven_2"),
     "We show that employing more elaborate architectures such as VAEs or FM-AEs does not "
     "yield satisfactory improvements of the residial maps over deterministic "
     "l2-autoencoders in the unsupervised defect segmentation task.",
     "Section 3.1.4 (arXiv version, as reproduced on speakerdeck.com/kmotohas, slide 22; "
     "'residial' sic, l2 for the paper's script l)"),
    (("nanotwice", "woven_1", "woven_2"),
     "We show that per-pixel reconstruction probabilities obtained from VAEs suffer from "
     "the same problems as per-pixel deterministic losses (cf. Section 4).",
     "the related work, shortly before Section 3 (Methodology)"),
)


def paper_rows() -> list[dict]:
    """One row per (paper dataset, map): dataset, name, stand_in, map, label, metric,
    value (None where not obtained), status, source."""
    return [{"dataset": key, "name": ds.name, "stand_in": ds.stand_in, "map": m,
             "label": PAPER_MAPS[m], "metric": PAPER_METRIC, "value": cell.value,
             "status": cell.status, "source": cell.source}
            for key, ds in PAPER_DATASETS.items()
            for m, cell in PAPER_RESULTS[key].items()]


def published_values() -> dict[str, float]:
    """Every published number that has a value, keyed by where it comes from:
    ``paper.<dataset>.<map>`` ([SSIM-AE]'s cells), ``paper.headline.<method>``,
    ``mvtec.<category>.<method>.pro`` / ``.pixel_auroc`` ([MVTec AD] Table 3)."""
    values = {f"paper.{r['dataset']}.{r['map']}": r["value"] for r in paper_rows()
              if r["value"] is not None}
    values.update({f"paper.headline.{m}": v for m, v in HEADLINE.items()})
    for r in mvtec_rows():
        values[f"mvtec.{r['category']}.{r['method']}.pro"] = r["pro"]
        values[f"mvtec.{r['category']}.{r['method']}.pixel_auroc"] = r["pixel_auroc"]
    return values


def paper_markdown() -> str:
    """[SSIM-AE]'s own results per dataset and map, every cell with its status: a value,
    or "not obtained"; the sources below the table."""
    head = "| paper's dataset | our stand-in | " + " | ".join(PAPER_MAPS.values()) + " |"
    lines = [f"[SSIM-AE]'s own results ({PAPER_METRIC}), per dataset and method.", "",
             head, "|---|---|" + "---:|" * len(PAPER_MAPS)]
    for key, ds in PAPER_DATASETS.items():
        cells = [f"{c.value:.3f} ({c.status})" if c.value is not None else c.status
                 for c in PAPER_RESULTS[key].values()]
        lines.append(f"| {ds.name} | `{ds.stand_in}` | " + " | ".join(cells) + " |")
    sources = sorted({c.source for cells in PAPER_RESULTS.values() for c in cells.values()})
    lines += ["", *[f"- {s}" for s in sources],
              f"- Headline, on a dataset its source does not name: AUC "
              f"{HEADLINE['l2-AE']:.3f} (l2-AE) -> {HEADLINE['SSIM-AE']:.3f} (SSIM-AE); "
              f"source: {HEADLINE_SOURCE}.", "",
              "What the paper's text says of these results (no number):", "",
              *[f"- \"{words}\" ({where})" for _, words, where in PAPER_STATEMENTS], ""]
    return "\n".join(lines)


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
             paper_markdown(),
             "MVTec AD texture categories, per-region overlap / pixel ROC AUC. "
             f"Source: {MVTEC_SOURCE}.", "",
             "| category | AE (SSIM) | AE (l2) |", "|---|---|---|"]
    for category, methods in MVTEC_TEXTURES.items():
        cells = [f"{pro:.2f} / {auc:.2f}" for pro, auc in
                 (methods["AE (SSIM)"], methods["AE (l2)"])]
        lines.append(f"| {category} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"
