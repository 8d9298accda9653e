"""Anomaly maps of whole images, one per method, by the paper's sliding window.

Every test image is cut into 128 x 128 patches at a stride of 30 px (the last row and
column moved to the border), the patches go through the model in batches, each patch gets
its own map, and the maps are folded back by averaging the overlaps (windows.py):

  l2      per-pixel squared residual (x - x_hat)^2                       (Section 3.1.1)
  ssim    1 - per-pixel SSIM of x and x_hat, 11 x 11 window               (Section 3.2)
  vae_kl  KL(Q(z|x) || N(0, I)) of the patch at each position of its own (coarser)
          stride, spread over the patch's pixels and averaged             (Section 3.1.2)
  vae_rp  per-pixel -log p(x|z) averaged over L samples of z             (Section 3.1.2)

Both residual maps are computed from the same reconstruction for either autoencoder, so
the l2-AE can also be scored with SSIM and the SSIM-AE with l2 (the cross rows of the
metrics). The reconstructions are folded the same way and kept for the figures.
"""
import numpy as np
import tensorflow as tf

from evaluation.windows import extract_patches, fold, patch_values_to_maps
from losses.l2 import l2_map
from losses.ssim import ssim_map
from methods import METHODS
from models.vae import kl_divergence, reconstruction_probability


def _batched(fn, patches, batch):
    """Apply fn to (P, p, p) patches in batches of at most ``batch``; returns a tuple of
    stacked numpy arrays. fn takes any batch size, so the last batch is not padded."""
    outs = [fn(tf.constant(patches[start:start + batch, ..., None]))
            for start in range(0, len(patches), batch)]
    return tuple(np.concatenate([np.asarray(out[i]) for out in outs]) for i in range(len(outs[0])))


def _compiled(model, key, make):
    """A compiled function of the model, built on first use and kept on the model, so
    that segmenting image after image traces it once (not once per call)."""
    cache = model.__dict__.setdefault("_anomaly_fns", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _patch_signature(patch):
    # any number of patches, one trace; the SSIM filter needs the patch size itself
    return [tf.TensorSpec([None, patch, patch, 1], tf.float32)]


def _ae_fn(model, names, patch):
    """One function from patches to the selected per-patch maps, in the order of names."""
    def make():
        @tf.function(input_signature=_patch_signature(patch))
        def maps(x):
            x_hat = tf.cast(model(x, training=False), tf.float32)
            out = {"l2": lambda: l2_map(x, x_hat), "ssim": lambda: 1.0 - ssim_map(x, x_hat),
                   "recon": lambda: x_hat}
            return tuple(out[name]()[..., 0] for name in names)
        return maps
    return _compiled(model, ("ae", names, patch), make)


def _kl_fn(vae, patch):
    def make():
        return tf.function(lambda x: (kl_divergence(vae, x),), input_signature=_patch_signature(patch))
    return _compiled(vae, ("kl", patch), make)


def _rp_fn(vae, samples, patch):
    def make():
        @tf.function(input_signature=_patch_signature(patch))
        def rp(x):
            nll, recon = reconstruction_probability(vae, x, samples=samples)
            return nll[..., 0], recon[..., 0]
        return rp
    return _compiled(vae, ("rp", samples, patch), make)


def anomaly_maps(model, method, images, patch=128, stride=30, batch=128,
                 kl_stride=16, rp_samples=10, max_patches=4096, maps=None):
    """Maps of every image (K, H, W) for one trained model, as a dict of (K, H, W) arrays.

    ``maps`` selects what to compute, by default everything the method gives (its
    ``maps`` in methods.py): ``l2``, ``ssim`` and ``recon`` for ``l2_ae`` and ``ssim_ae``;
    ``vae_kl``, ``vae_rp`` and ``recon`` for ``vae`` (the VAE's reconstruction comes with
    ``vae_rp``'s samples). Images go through in groups of about ``max_patches`` patches:
    small images share batches (one 192 px image has only 9 patches), and memory stays
    bounded whatever the test set's size.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 3:
        raise ValueError(f"anomaly_maps needs images (K, H, W), got shape {images.shape}")
    gives = METHODS[method].maps
    names = gives if maps is None else tuple(maps)
    unknown = [name for name in names if name not in gives]
    if unknown or not names:
        raise ValueError(f"{method} gives the maps {gives}, not {unknown or names}")
    per_image = len(extract_patches(images[:1], patch, stride)[0])
    group = max(1, max_patches // per_image)
    parts = []
    for start in range(0, len(images), group):
        chunk = images[start:start + group]
        patches, grid = extract_patches(chunk, patch, stride)
        part = {}
        if method != "vae":
            per_patch = _batched(_ae_fn(model, names, patch), patches, batch)
            part = {name: fold(values, grid) for name, values in zip(names, per_patch)}
        else:
            if "vae_rp" in names or "recon" in names:
                nll, recon = _batched(_rp_fn(model, rp_samples, patch), patches, batch)
                part.update(vae_rp=fold(nll, grid), recon=fold(recon, grid))
            if "vae_kl" in names:
                kl_patches, kl_grid = extract_patches(chunk, patch, kl_stride)
                (kl,) = _batched(_kl_fn(model, patch), kl_patches, batch)
                part["vae_kl"] = patch_values_to_maps(kl, kl_grid)
        parts.append(part)
    return {name: np.concatenate([part[name] for part in parts]).astype(np.float32)
            for name in names}
