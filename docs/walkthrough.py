"""
Title: Unsupervised defect segmentation with an SSIM autoencoder
Author: the ssim-ae reproduction project, after Bergmann et al. (VISAPP 2019)
Date created: 2026/11/30
Description: Train an l2- and an SSIM-autoencoder on defect-free texture and compare
their anomaly maps by pixel AUROC.
Accelerator: CPU
"""

"""
## Introduction

An autoencoder trained only on defect-free images cannot reconstruct a defect it never
saw: it reconstructs the texture that *should* be there, and the residual map, the
difference between input and reconstruction, points at the defect. The usual residual is
the per-pixel squared error (l2), which judges every pixel on its own. Bergmann et al.
use SSIM instead, which compares 11 x 11 neighbourhoods by **luminance** (local mean),
**contrast** (local spread) and **structure** (local correlation), so it sees a defect
that changes a texture's pattern but not its grey values. SSIM is both their training
loss and their residual map.

Here both autoencoders train for a few minutes on a CPU. The numbers are only
illustrative (a short run, one seed): `./run_all.sh` runs the reproduction into `results/`.

## Setup

Environment variables can override the sizes (the test sets a tiny run).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repository root

import keras
import numpy as np

import textures
from evaluation.maps import anomaly_maps
from evaluation.metrics import pixel_auroc, segmentation_scores
from evaluation.thresholds import max_region_threshold
from losses.l2 import l2_loss
from losses.ssim import ssim_loss
from models.autoencoder import build_autoencoder
from textures.patches import patch_dataset

EPOCHS = int(os.environ.get("WALKTHROUGH_EPOCHS", 20))  # 20 x 32 steps: 640 Adam updates
STEPS = int(os.environ.get("WALKTHROUGH_STEPS", 32))  # steps per epoch
BATCH = int(os.environ.get("WALKTHROUGH_BATCH", 32))  # patches per step
SMALL = os.environ.get("WALKTHROUGH_SMALL", "0") == "1"  # 256 px images instead of 512 px
STRIDE = int(os.environ.get("WALKTHROUGH_STRIDE", 30))  # sliding-window stride at test time

"""
## The data

`fabric1` is a synthetic plain weave, the project's stand-in for the paper's woven fabric.
`train` and `val` are defect-free; `test` mixes defect-free and defective images, with a
pixel mask per defect. Most defects are structural (a missing thread, a shifted weave):
their grey values match the surrounding fabric.
"""
data = textures.load("fabric1", seed=0, small=SMALL)
print(f"train {data.train.shape}, val {data.val.shape}, test {data.test.shape}")
print("defect types:", sorted(set(data.defect_types) - {"good"}))

"""
The networks see 128 x 128 patches, cut at random from the training images and turned or
flipped by one of the eight symmetries of the square. `patch_dataset` streams batches
without end as a `tf.data` pipeline. An autoencoder's target is its input: `(x, x)`.
"""
patches = patch_dataset(data.train, patch_size=128, batch_size=BATCH, seed=0)
pairs = patches.map(lambda x: (x, x))

"""
## The model: the paper's Table 1 network

Strided convolutions take a 128 x 128 x 1 patch down to 8 x 8 x 32, an 8 x 8 'valid'
convolution to a latent vector of d = 100; transposed convolutions mirror the path back up
to a sigmoid output (LeakyReLU 0.2 in between). Both autoencoders share this network;
only the loss differs:

- `l2_loss`: sum over the patch of (x - x_hat)^2 (the paper's Eq. 2);
- `ssim_loss`: 1 - SSIM(x, x_hat), the mean of SSIM over the 11 x 11 windows of the patch.
"""


def train(loss):
    keras.utils.set_random_seed(0)  # both models start from the same weights
    model = build_autoencoder(latent_dim=100, patch_size=128)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, weight_decay=1e-5), loss=loss)
    model.fit(pairs, epochs=EPOCHS, steps_per_epoch=STEPS, shuffle=False, verbose=2)
    return model


l2_ae = train(l2_loss)
ssim_ae = train(ssim_loss)
print(f"{l2_ae.count_params():,} parameters each, latent {l2_ae.encoder.output_shape[1:]}")

"""
## Anomaly maps by a sliding window

Test images are larger than a patch. `anomaly_maps` cuts each image into 128 x 128
windows at a stride of `STRIDE` px (30 in the paper's protocol), reconstructs every window,
computes its residual map per pixel, `(x - x_hat)^2` or `1 - SSIM(x, x_hat)`, and averages
the overlapping windows back into one map per image (cutting and folding:
`evaluation/windows.py`). Each model is scored with its own residual, as in the paper.
"""
images = np.concatenate([data.test, data.val])  # one pass over test and validation images
n_test = len(data.test)
maps = {
    "l2-AE": anomaly_maps(l2_ae, "l2_ae", images, stride=STRIDE, maps=("l2",))["l2"],
    "SSIM-AE": anomaly_maps(ssim_ae, "ssim_ae", images, stride=STRIDE, maps=("ssim",))["ssim"],
}

"""
## A threshold from defect-free images, and the pixel AUROC

A segmentation `map > threshold` needs a threshold that never saw a test label. It comes
from the defect-free validation images, by the MVTec AD rule: the lowest value at which no
validation image has a connected anomalous region of 64 px or more. The IoU is measured
at it. Pixel AUROC needs no threshold: over all test pixels, how well the map separates
defect pixels from the rest (1.0 perfect, 0.5 chance).
"""
print(f"\n{'model':8s} {'pixel AUROC':>11s} {'threshold':>10s} {'IoU':>6s}")
for name, stacked in maps.items():
    test_maps, val_maps = stacked[:n_test], stacked[n_test:]
    threshold = max_region_threshold(val_maps, min_area=64)
    auroc = pixel_auroc(test_maps, data.masks, data.has_mask)
    iou = segmentation_scores(test_maps, data.masks, data.has_mask, threshold)["iou"]
    print(f"{name:8s} {auroc:11.3f} {threshold:10.4f} {iou:6.3f}")

"""
## What to expect

With the defaults (640 updates per model, 512 px images, stride 30) one run printed a
pixel AUROC of 0.72 for the l2-AE and 0.96 for the SSIM-AE: the structural defects change
the pattern but hardly the grey values, so their squared residual stays small. This is one
seed at a twenty-fourth of the paper's training (15,600 updates), and the values move from
run to run. For the reproduction (three seeds, four datasets, seed spreads) run
`./run_all.sh` and read `results/README.md`.
"""
