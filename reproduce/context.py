"""What every experiment module receives: where to write, what was evaluated, how to log.

Each experiment of the paper is one module of reproduce/ with a ``run(ctx)`` function.
Experiments that need trained models read the evaluation folders that
``reproduce.evaluate`` wrote before them (one per dataset); they never train themselves.

An evaluation folder (``ctx.eval_dir(spec)``) holds:
  metrics.csv  one row per (dataset, method, map, seed): dataset, method, map, seed, pixel_auroc,
               aupro_30, image_auroc, threshold, iou, f1, f1_max
  maps.npz     l2, ssim, vae_kl, vae_rp: anomaly maps (K, H, W) float32, test-set order;
               images (K, H, W) the test images; masks (K, H, W) bool; has_mask (K,) bool;
               labels (K,) int; defect_types (K,) str; recon_l2_ae, recon_ssim_ae,
               recon_vae (K, H, W) reconstructions; threshold_<map> scalars (validation);
               reference_knn, reference_intensity: the controls' maps. All of the first
               training seed
  histograms.npz  <method>__<map>: (S, K, 2, bins) per-seed, per-image pixel counts
               for the bootstrap intervals (evaluation/uncertainty.py); seeds (S,)
  logs/<method>.csv  the per-epoch training log (epoch, loss[, reconstruction, kl])
  run.json     provenance
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# map name -> (method that produces it, label used in tables and figures)
MAPS = {"l2": ("l2_ae", "l2-AE"), "ssim": ("ssim_ae", "SSIM-AE"),
        "vae_kl": ("vae", "VAE (KL)"), "vae_rp": ("vae", "VAE (recon. prob.)")}


def folder_name(spec: str) -> str:
    """A dataset spec as one folder name (``folder:/data/x`` -> ``folder__data_x``)."""
    return spec.replace(":", "_").replace("/", "_")


@dataclass
class Context:
    out: Path                    # the results folder being written
    profile: dict                # the profile's values (reproduce/profiles.py)
    datasets: list[str]          # dataset specs of this run
    eval_root: Path = None       # where evaluation folders live (default: out / "eval")
    started: float = field(default_factory=time.time)

    def eval_dir(self, spec: str) -> Path:
        root = self.eval_root or (self.out / "eval")
        return root / folder_name(spec)

    def log(self, message: str) -> None:
        print(f"[{time.time() - self.started:7.1f} s] {message}", file=sys.stderr, flush=True)
