"""What the budget study measures of one model at one checkpoint: the rows of checkpoints.csv.

One row per map the model gives (methods.py: the l2-AE and the SSIM-AE each give the l2
and the SSIM map, their own and the cross one; the VAE its KL and reconstruction
probability), with the same protocol as ``evaluate`` (reproduce/evaluate.py): the maps of
the test and validation images (evaluation/maps.py ``maps_for``, the profile's stride),
scored by evaluation/scoring.py (pixel ROC AUC, AUPRO up to FPR 0.3, image AUROC, the
threshold from the validation images and IoU/F1 at it). Beside them:

  pixel_auroc_low/high  the 95 % interval of the pixel ROC AUC over the test images
                        (evaluation/uncertainty.py: per-image histograms, then the
                        bootstrap over the dataset's groups; one training seed, so only
                        the images vary)
  val_loss              the training loss on the fixed validation patches at this
                        checkpoint, as the fit logged it (training.py; the VAE's is its
                        negative ELBO with a sampled z)
  fit_*                 the model's trainedness on the same patches, every field of
                        evaluation/trainedness.py (structure criterion included)
  updates, patches      the checkpoint: updates done, patches seen (updates x batch)
  train_seconds         training time of the model up to here, over every run that
                        contributed (the machine's: noisy where it is shared)
  model_key             the model's cache folder name: rows of another key are stale
"""
from __future__ import annotations

import time

import numpy as np

from evaluation.maps import maps_for
from evaluation.scoring import COLUMNS
from evaluation.trainedness import FIELDS, trainedness
from evaluation.uncertainty import bootstrap, interval
from reproduce.evaluate import score_maps

FIT_COLUMNS = tuple(f"fit_{key}" for key in FIELDS)
ROW_COLUMNS = ("dataset", "method", "map", "updates", "patches", "val_loss", *COLUMNS,
               "pixel_auroc_low", "pixel_auroc_high", *FIT_COLUMNS, "train_seconds",
               "measure_seconds", "model_key")


def measure(trainee, ds, val_patches, profile: dict, histograms: dict | None = None) -> list[dict]:
    """The rows of one checkpoint: ``trainee`` (trainee.py) at its current updates, on
    the evaluated dataset ``ds`` (test and validation images), judged on ``val_patches``.
    Each map's per-image pixel histograms (K, 2, bins) go into ``histograms`` where given,
    under ``hist_key``: what a paired difference of two maps needs (report.py ``lead``)."""
    t = time.time()
    model, method = trainee.model, trainee.method
    fit = trainedness(model, method, val_patches)
    stacked = maps_for(model, method, np.concatenate([ds.test, ds.val]), profile)
    stacked.pop("recon", None)  # the reconstructions: for figures, not scored
    rows = []
    for name, scored in score_maps(stacked, ds, profile):
        low, high = interval(bootstrap({name: scored["histograms"][None]}, groups=ds.groups)[name])
        if histograms is not None:
            histograms[hist_key(trainee.folder.name, name, trainee.updates)] = scored["histograms"]
        rows.append({"dataset": ds.spec, "method": method, "map": name,
                     "updates": trainee.updates,
                     "patches": trainee.updates * profile["batch_size"],
                     "val_loss": trainee.curve[-1]["val_loss"] if trainee.curve else np.nan,
                     **scored["metrics"], "pixel_auroc_low": low, "pixel_auroc_high": high,
                     **{f"fit_{k}": fit.get(k) for k in FIELDS},
                     "train_seconds": round(trainee.seconds, 1), "model_key": trainee.folder.name})
    seconds = round(time.time() - t, 1)
    for row in rows:
        row["measure_seconds"] = seconds
    return rows


def hist_key(model_key: str, name: str, updates: int) -> str:
    """The name of one map's histograms at one checkpoint in <dataset>/histograms.npz."""
    return f"{model_key}__{name}__{int(updates)}"
