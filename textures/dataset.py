"""The in-memory form of every dataset: what the loaders return, what the rest reads."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class TextureDataset:
    """Grayscale float32 images in [0, 1], all of one size (H, W) within a dataset.

    train  (N, H, W)  defect-free images the models are trained on
    val    (M, H, W)  defect-free images held out from training, for thresholds only
    test   (K, H, W)  defect-free and defective test images
    masks  (K, H, W)  bool, True on defect pixels (all False for defect-free images)
    has_mask (K,)     bool, False for defective images whose type ships no masks:
                      those count for image-level metrics only
    labels (K,)       int, 1 for defective, 0 for defect-free
    defect_types      K names, "good" for defect-free; test_names: K file stems
    structural_types  the defect types that change structure, not intensity (if known)
    groups (K,)       int, the bootstrap's unit (evaluation/uncertainty.py): test images
                      that share pixels of one source share a group and are resampled
                      together; default: every image its own group
    boxes             where crops of a larger source were cut, for the sets that have
                      them: {"train" | "val" | "test": (n, 4) int rows (y0, x0, y1, x1)};
                      empty for generated and file datasets
    """

    spec: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    masks: np.ndarray
    has_mask: np.ndarray
    labels: np.ndarray
    defect_types: list[str]
    test_names: list[str]
    structural_types: list[str] = field(default_factory=list)
    source: str = ""
    groups: np.ndarray | None = None
    boxes: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.groups = np.arange(len(self.test)) if self.groups is None else np.asarray(self.groups)
        if self.groups.shape != (len(self.test),):
            raise ValueError(f"groups has shape {self.groups.shape}, "
                             f"not one entry per test image ({len(self.test)})")

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.test.shape[1:3])

    def subset(self, max_good: int | None = None, max_per_type: int | None = None,
               max_val: int | None = None) -> "TextureDataset":
        """The first ``max_good`` defect-free and ``max_per_type`` images of each defect
        type of the test set (in test-set order), and the first ``max_val`` validation
        images: a smaller evaluation at the same protocol. Training images are kept; the
        kept test images keep their groups and boxes."""
        seen: dict[str, int] = {}
        keep = []
        for i, kind in enumerate(self.defect_types):
            cap = max_good if kind == "good" else max_per_type
            if cap is None or seen.get(kind, 0) < cap:
                keep.append(i)
                seen[kind] = seen.get(kind, 0) + 1
        keep = np.array(keep, int)
        boxes = dict(self.boxes)
        if "val" in boxes:
            boxes["val"] = boxes["val"][:max_val]
        if "test" in boxes:
            boxes["test"] = boxes["test"][keep]
        return replace(self, val=self.val[:max_val], test=self.test[keep],
                       groups=self.groups[keep], boxes=boxes,
                       masks=self.masks[keep], has_mask=self.has_mask[keep],
                       labels=self.labels[keep],
                       defect_types=[self.defect_types[i] for i in keep],
                       test_names=[self.test_names[i] for i in keep])
