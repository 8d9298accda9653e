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
from models.vae import kl_divergence, reconstruction_probability


def _batched(fn, patches, batch):
    """Apply fn to (P, p, p) patches in batches; returns a tuple of stacked numpy arrays.

    The last batch is padded to full size (and the padding dropped), so fn sees one shape
    and is traced once.
    """
    outs = []
    for start in range(0, len(patches), batch):
        chunk = patches[start:start + batch]
        n = len(chunk)
        if n < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - n,) + chunk.shape[1:], chunk.dtype)])
        result = fn(tf.constant(chunk[..., None]))
        outs.append([np.asarray(r)[:n] for r in (result if isinstance(result, tuple) else (result,))])
    return tuple(np.concatenate(parts) for parts in zip(*outs))


def _once_per_model(model, key, make):
    """The compiled functions of a model, built on first use and kept on the model, so
    that segmenting image after image traces them once (not once per call)."""
    cache = model.__dict__.setdefault("_anomaly_fns", {})
    if key not in cache:
        cache[key] = make()
    return cache[key]


def _ae_maps_fn(model):
    @tf.function(reduce_retracing=True)
    def maps(x):
        x_hat = tf.cast(model(x, training=False), tf.float32)
        return l2_map(x, x_hat)[..., 0], 1.0 - ssim_map(x, x_hat)[..., 0], x_hat[..., 0]
    return _once_per_model(model, "ae", lambda: maps)


def _vae_fns(vae, samples):
    @tf.function(reduce_retracing=True)
    def kl(x):
        return kl_divergence(vae, x)

    @tf.function(reduce_retracing=True)
    def rp(x):
        nll, recon = reconstruction_probability(vae, x, samples=samples)
        return nll[..., 0], recon[..., 0]
    return _once_per_model(vae, ("vae", samples), lambda: (kl, rp))


def anomaly_maps(model, method, images, patch=128, stride=30, batch=128,
                 kl_stride=16, rp_samples=10, max_patches=4096):
    """Maps of every image (K, H, W) for one trained model, as a dict of (K, H, W) arrays.

    ``l2_ae`` and ``ssim_ae`` give ``l2``, ``ssim`` and ``recon``; ``vae`` gives
    ``vae_kl``, ``vae_rp`` and ``recon``. Images go through in groups of about
    ``max_patches`` patches: small images share batches (one 192 px image has only 9
    patches), and memory stays bounded whatever the test set's size.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 3:
        raise ValueError(f"anomaly_maps needs images (K, H, W), got shape {images.shape}")
    if method == "vae":
        kl_fn, rp_fn = _vae_fns(model, rp_samples)
    else:
        ae_fn = _ae_maps_fn(model)
    per_image = len(extract_patches(images[:1], patch, stride)[0])
    group = max(1, max_patches // per_image)
    parts = []
    for start in range(0, len(images), group):
        chunk = images[start:start + group]
        patches, grid = extract_patches(chunk, patch, stride)
        if method == "vae":
            nll, recon = _batched(rp_fn, patches, batch)
            kl_patches, kl_grid = extract_patches(chunk, patch, kl_stride)
            (kl,) = _batched(kl_fn, kl_patches, batch)
            parts.append({"vae_kl": patch_values_to_maps(kl, kl_grid),
                          "vae_rp": fold(nll, grid), "recon": fold(recon, grid)})
        else:
            l2, dssim, recon = _batched(ae_fn, patches, batch)
            parts.append({"l2": fold(l2, grid), "ssim": fold(dssim, grid), "recon": fold(recon, grid)})
    return {name: np.concatenate([part[name] for part in parts]).astype(np.float32)
            for name in parts[0]}
