"""Anomaly maps of whole images, one per method, by the paper's sliding window.

Every test image is cut into 128 x 128 patches at a stride of 30 px (the last row and
column moved to the border), the patches go through the model in batches, each patch gets
its own map, and the maps are folded back by averaging the overlaps (windows.py):

  l2      per-pixel squared residual (x - x_hat)^2                       (Section 3.1.1)
  ssim    1 - per-pixel SSIM of x and x_hat, 11 x 11 window               (Section 3.2)
  vae_kl  KL(Q(z|x) || N(0, I)) of the patch at each position of its own (coarser)
          stride, spread over the patch's pixels and averaged             (Section 3.1.2)
  vae_rp  per-pixel -log p(x|z) averaged over L samples of z             (Section 3.1.2)

Each method computes its maps from a batch of patches with the function its entry in
methods.py names (``map_fn``: models/autoencoder.py ``residual_maps``, models/vae.py
``anomaly_maps``); this module cuts, batches and folds. Maps that give one value per
patch (the entry's ``per_patch``: the KL) are computed at their own stride and spread.
Both residual maps are computed from the same reconstruction for either autoencoder, so
the l2-AE can also be scored with SSIM and the SSIM-AE with l2 (the cross rows of the
metrics). The reconstructions are folded the same way and kept for the figures.
"""
import numpy as np
import tensorflow as tf

from evaluation.windows import extract_patches, fold, patch_values_to_maps
from methods import METHODS, function


def _batched(fn, patches, batch):
    """Apply fn to (P, p, p) patches in batches of at most ``batch``; returns a tuple of
    stacked numpy arrays. fn takes any batch size, so the last batch is not padded."""
    outs = [fn(tf.constant(patches[start:start + batch, ..., None]))
            for start in range(0, len(patches), batch)]
    return tuple(np.concatenate([np.asarray(out[i]) for out in outs]) for i in range(len(outs[0])))


def compiled_maps(model, method, names, patch, samples):
    """The method's map function for these maps as one compiled function of (N, p, p, 1)
    patches, returning a tuple in the order of ``names``: per-pixel maps (N, p, p), per-patch
    ones (N,). Built on first use and kept on the model, so that segmenting image after
    image traces it once (not once per call)."""
    cache = model.__dict__.setdefault("_anomaly_fns", {})
    key = (method, names, patch, samples)
    if key not in cache:
        compute = function(METHODS[method].map_fn)

        # any number of patches, one trace; the SSIM filter needs the patch size itself
        @tf.function(input_signature=[tf.TensorSpec([None, patch, patch, 1], tf.float32)])
        def maps(x):
            out = compute(model, x, names, samples)
            return tuple(out[name][..., 0] if len(out[name].shape) == 4 else out[name]
                         for name in names)
        cache[key] = maps
    return cache[key]


def anomaly_maps(model, method, images, patch=128, stride=30, batch=128,
                 kl_stride=16, rp_samples=10, max_patches=4096, maps=None):
    """Maps of every image (K, H, W) for one trained model, as a dict of (K, H, W) arrays.

    ``maps`` selects what to compute, by default everything the method gives (its
    ``maps`` in methods.py: for the autoencoders ``l2``, ``ssim`` and ``recon``; for the
    VAE ``vae_kl``, ``vae_rp`` and ``recon``, its reconstruction coming with ``vae_rp``'s
    ``rp_samples`` samples). Per-pixel maps are cut at ``stride``, the per-patch ones at
    ``kl_stride``. Images go through in groups of about ``max_patches`` patches: small
    images share batches (one 192 px image has only 9 patches), and memory stays bounded
    whatever the test set's size.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 3:
        raise ValueError(f"anomaly_maps needs images (K, H, W), got shape {images.shape}")
    entry = METHODS[method]
    names = entry.maps if maps is None else tuple(maps)
    unknown = [name for name in names if name not in entry.maps]
    if unknown or not names:
        raise ValueError(f"{method} gives the maps {entry.maps}, not {unknown or names}")
    pixel = tuple(name for name in names if name not in entry.per_patch)
    per_patch = tuple(name for name in names if name in entry.per_patch)
    per_image = len(extract_patches(images[:1], patch, stride)[0])
    group = max(1, max_patches // per_image)
    parts = []
    for start in range(0, len(images), group):
        chunk = images[start:start + group]
        part = {}
        if pixel:
            patches, grid = extract_patches(chunk, patch, stride)
            values = _batched(compiled_maps(model, method, pixel, patch, rp_samples), patches, batch)
            part.update({name: fold(v, grid) for name, v in zip(pixel, values)})
        if per_patch:
            patches, grid = extract_patches(chunk, patch, kl_stride)
            values = _batched(compiled_maps(model, method, per_patch, patch, rp_samples), patches, batch)
            part.update({name: patch_values_to_maps(v, grid) for name, v in zip(per_patch, values)})
        parts.append(part)
    return {name: np.concatenate([part[name] for part in parts]).astype(np.float32)
            for name in names}


def maps_for(model, method, images, profile, maps=None):
    """The method's maps (``maps``: which ones, default all) at a profile's settings
    (reproduce/profiles.py): what ``evaluate``, ``segment`` and ``bench`` compute."""
    return anomaly_maps(model, method, images, patch=profile["patch_size"],
                        stride=profile["stride"], batch=profile["eval_batch"],
                        kl_stride=profile["kl_stride"], rp_samples=profile["rp_samples"],
                        maps=maps)
