"""Did a model learn anything? Its validation loss against the best output that ignores
the input, and how much of each patch its reconstruction explains.

A network that outputs the same patch whatever it reads still has a loss, and an anomaly
map whose numbers look like results. Every model is therefore measured on patches of the
defect-free validation images, which it never trained on, against the *best constant
patch* for them: their per-pixel mean ``m`` (the constant patch that minimises the summed
squared error; for the VAE, a Gaussian decoder with that mean and the per-pixel variance
of the patches, the best constant likelihood). Reported per model:

  loss, constant_loss   the model's own training loss on these patches, and the constant's
  loss_ratio            loss / constant_loss (l2-AE, SSIM-AE); below 1 is better than constant
  nll_gain              VAE only: (constant_loss - loss) per pixel, in nats; above 0 is better
  r2                    1 - SSE(x, x_hat) / SSE(x, m): the share of the patches' variation
                        the reconstruction explains (1 perfect, 0 no better than m)
  ssim                  mean SSIM(x, x_hat) (losses/ssim.py, 11 x 11 window)
  spread_ratio          the reconstructions' spread across pixels over the inputs' (a flat
                        output has 0)
  correlation           Pearson correlation of reconstruction and input, pixels pooled
  kl, active_units      VAE only: mean KL(Q(z|x) || N(0, I)) in nats, and the latent units
                        whose posterior mean varies across patches with variance > 0.01
                        (Burda et al., 2016); 0 active units is posterior collapse
  trained               the loss clearly below the constant's, loss_ratio <= 0.9 (VAE:
                        nll_gain >= 0.05 nats/pixel), and reconstructions that are not flat,
                        spread_ratio >= 0.3. R^2 is reported, not required: an SSIM-AE
                        learns structure before it matches grey values, and may explain
                        little of the patches' variance while its own loss has fallen.
"""
import numpy as np

from losses.ssim import ssim_map
from methods import METHODS, function
from models.vae import gaussian_nll, kl_to_standard_normal

ACTIVE_VARIANCE = 0.01
MAX_LOSS_RATIO, MIN_NLL_GAIN, MIN_SPREAD_RATIO = 0.9, 0.05, 0.3


def _batched(fn, x, batch=64):
    return [np.concatenate(parts) for parts in zip(*(
        [np.asarray(out) for out in fn(x[i:i + batch])] for i in range(0, len(x), batch)))]


def trainedness(model, method, patches, batch=64):
    """The measures above for one model on (N, p, p, 1) float32 validation patches."""
    x = np.asarray(patches, np.float32)
    m = np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
    row = {}
    if method == "vae":
        z_mean, z_log_var = _batched(lambda b: model.encoder(b, training=False), x, batch)
        x_hat, x_log_var = _batched(lambda z: model.decoder(z, training=False), z_mean, batch)
        kl = np.asarray(kl_to_standard_normal(z_mean, z_log_var))
        nll = np.asarray(gaussian_nll(x, x_hat, x_log_var)).sum(axis=(1, 2, 3))
        var = np.clip(x.var(axis=0, keepdims=True), np.exp(-6.0), np.exp(6.0)).astype(np.float32)
        constant = np.asarray(gaussian_nll(x, m, np.log(var))).sum(axis=(1, 2, 3))
        row["loss"], row["constant_loss"] = float((nll + kl).mean()), float(constant.mean())
        row["nll_gain"] = (row["constant_loss"] - row["loss"]) / x[0].size
        row["kl"] = float(kl.mean())
        row["active_units"] = int((z_mean.reshape(len(x), -1).var(axis=0) > ACTIVE_VARIANCE).sum())
    else:
        x_hat = _batched(lambda b: (model(b, training=False),), x, batch)[0].astype(np.float32)
        loss = function(METHODS[method].loss)  # the training loss (methods.py)
        row["loss"] = float(np.mean(loss(x, x_hat)))
        row["constant_loss"] = float(np.mean(loss(x, m)))
        row["loss_ratio"] = row["loss"] / row["constant_loss"]
    x_hat = x_hat.astype(np.float32)
    row["r2"] = float(1.0 - np.sum((x - x_hat) ** 2) / np.sum((x - m) ** 2))
    row["ssim"] = float(np.mean(ssim_map(x, x_hat)))
    row["spread_ratio"] = float(x_hat.std(axis=(1, 2, 3)).mean() / x.std(axis=(1, 2, 3)).mean())
    flat = x_hat.std() == 0  # a constant output correlates with nothing
    row["correlation"] = 0.0 if flat else float(np.corrcoef(x.ravel(), x_hat.ravel())[0, 1])
    better = (row["nll_gain"] >= MIN_NLL_GAIN if method == "vae"
              else row["loss_ratio"] <= MAX_LOSS_RATIO)
    row["trained"] = bool(better and row["spread_ratio"] >= MIN_SPREAD_RATIO)
    return row
