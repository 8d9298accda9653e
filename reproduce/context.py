"""What every experiment module receives: where to write, what was evaluated, how to log.

Each experiment is one module of reproduce/experiments/ with a ``run(ctx)`` function
(the registry: reproduce/experiments/__init__.py). Experiments that need trained models
read the evaluation folders that ``reproduce.evaluate`` wrote before them (one per
dataset); they never train themselves.

An evaluation folder (``ctx.eval_dir(spec)``) holds:
  metrics.csv  one row per (dataset, method, map, seed): dataset, method, map, seed; the
               metrics of evaluation/scoring.py COLUMNS (pixel_auroc, aupro_30,
               image_auroc, threshold, threshold_p99_9, iou, f1, f1_max); then the model's
               trainedness, fit_<field> for each field of evaluation/trainedness.py FIELDS
               (fit_loss, ..., fit_explains_structure, fit_trained; empty on the reference
               rows and where a method's measure has no such field). Folders written before
               a column existed lack it
  maps.npz     l2, ssim, vae_kl, vae_rp: anomaly maps (K, H, W) float32, test-set order;
               images (K, H, W) the test images; masks (K, H, W) bool; has_mask (K,) bool;
               labels (K,) int; defect_types (K,) str; recon_l2_ae, recon_ssim_ae,
               recon_vae (K, H, W) reconstructions; threshold_<map> scalars (validation);
               reference_knn, reference_intensity: the controls' maps. All of the first
               training seed
  histograms.npz  <method>__<map>: (S, K, 2, bins) per-seed, per-image pixel counts
               for the bootstrap intervals (evaluation/uncertainty.py); seeds (S,);
               groups (K,): each test image's bootstrap unit (images cut from
               overlapping or shared pixels of one photo share a unit; absent in
               folders written before it was recorded: every image its own unit)
  bootstrap.npz  what the intervals of AUPRO and image ROC AUC need beside histograms.npz
               (evaluation/uncertainty.py; absent in folders written before it existed:
               those metrics are then shown without an interval): <method>__<map>__regions
               (S, R, bins) int32, each defect region's pixels in the bins of
               histograms.npz; <method>__<map>__image (S, K) float32, every test image's
               score (evaluation/metrics.py image_scores); region_image (R,) the test image
               of each region; labels (K,); groups (K,) as in histograms.npz; seeds (S,)
  logs/        the per-epoch training log of every model (epoch, loss and each term the
               model reports, e.g. the VAE's reconstruction and kl; val_<column> of each on
               the validation patches, training.py, in logs written since it was recorded): <method>.csv for the first training seed, <method>_seed<k>.csv for
               each further seed k (``log_file``; folders written before this kept only
               the first)
  run.json     provenance
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def folder_name(spec: str) -> str:
    """A dataset spec as one folder name (``folder:/data/x`` -> ``folder__data_x``)."""
    return spec.replace(":", "_").replace("/", "_")


def log_file(folder: Path, method: str, seed: int, first: bool) -> Path:
    """Where an evaluation folder keeps the training log of ``method`` at training
    ``seed`` (``first``: the run's first training seed)."""
    return Path(folder) / "logs" / (f"{method}.csv" if first else f"{method}_seed{seed}.csv")


@dataclass
class Context:
    out: Path                    # the results folder being written
    profile: dict                # the profile's values (reproduce/profiles.py)
    datasets: list[str]          # dataset specs of this run
    eval_root: Path = None       # where evaluation folders live (default: out / "eval")
    started: float = field(default_factory=time.time)
    # options of single experiments from the command line (reproduce/experiment_options.py:
    # budget's checkpoints, sweep's minutes, ...); {}: each experiment's defaults
    options: dict = field(default_factory=dict)

    def eval_dir(self, spec: str) -> Path:
        root = self.eval_root or (self.out / "eval")
        return root / folder_name(spec)

    def log(self, message: str) -> None:
        print(f"[{time.time() - self.started:7.1f} s] {message}", file=sys.stderr, flush=True)

    def structural_types(self, spec: str) -> list[str]:
        """The dataset's structural defect types: from its evaluation's run.json if
        recorded there, else from the dataset itself (textures caches generated
        datasets); [] if unknown."""
        try:
            info = json.loads((self.eval_dir(spec) / "run.json").read_text())
            if isinstance(info.get("structural_types"), list):
                return [str(t) for t in info["structural_types"]]
        except (OSError, ValueError, AttributeError):
            pass
        try:
            import textures
            seeds = self.profile.get("seeds", (0,))
            ds = textures.load(spec, seed=seeds[0], small=bool(self.profile.get("small_data")))
            return list(ds.structural_types)
        except Exception as error:  # an unknown or unreadable dataset: no preference
            self.log(f"structural types of {spec} unknown ({error})")
            return []
