"""Did a model learn anything? Its validation loss against the best output that ignores
the input, and how much of each patch its reconstruction explains.

A network that outputs the same patch whatever it reads still has a loss, and an anomaly
map whose numbers look like results. Every model is therefore measured on patches of the
defect-free validation images, which it never trained on (training.validation_patches),
against the *best constant patch* for them: their per-pixel mean ``m`` (the constant patch
that minimises the summed squared error; for the VAE, a Gaussian decoder with that mean
and the per-pixel variance of the patches, the best constant likelihood). Each method's
comparison with the constant is its ``measure`` (methods.py), one of the two below.
Reported per model (FIELDS, the fit_* columns of metrics.csv):

  loss, constant_loss   the model's own training loss on these patches, and the constant's
  loss_ratio            ``loss_ratio`` measure (the autoencoders): loss / constant_loss;
                        below 1 is better than constant
  nll_gain              ``nll_gain`` measure (the VAE): (constant_loss - loss) per pixel,
                        in nats, the loss being the negative ELBO; above 0 is better
  r2                    1 - SSE(x, x_hat) / SSE(x, m): the share of the patches' variation
                        the reconstruction explains (1 perfect, 0 no better than m)
  ssim                  mean SSIM(x, x_hat) (losses/ssim.py, 11 x 11 window)
  spread_ratio          the reconstructions' spread across pixels over the inputs' (a flat
                        output has 0)
  correlation           Pearson correlation of reconstruction and input, pixels pooled
  kl, active_units      VAE: mean KL(Q(z|x) || N(0, I)) in nats, and the latent units whose
                        posterior mean varies across patches with variance > 0.01 (Burda
                        et al., 2016); 0 active units is posterior collapse
  explains_structure    r2 >= MIN_R2 (0.15): the reconstructions explain some of the
                        patches' structure
  trained               all three criteria: the loss clearly below the constant's
                        (loss_ratio <= 0.9; VAE: nll_gain >= 0.05 nats/pixel), reconstructions
                        that are not flat (spread_ratio >= 0.3), and explains_structure.

Why MIN_R2 = 0.15, chosen on validation patches only (never on test metrics), from the
metrics.csv of the default run and of its float32 companion (results/eval,
results/extra/float32_default/eval: 72 models): every model that reconstructs its texture
has validation R^2 >= 0.262 (the lowest a nanofibres l2-AE, float32 seed 1), the fabrics'
and brick's models 0.60-0.83; the questionable ones lie at or below 0.071: the nanofibres
SSIM-AEs that passed the loss ratio at -0.119 to 0.024 (reconstructing a generic fibre
pattern), the brick SSIM-AEs of seeds 1-2 at 0.002-0.071, and the VAEs that did not train
(collapsed) at -2.3 to -0.006. The loss ratio alone let the first two groups pass: an
SSIM-AE's 1 - SSIM can fall below the constant's while its output explains almost
nothing of the patches' variation. 0.15 lies in the gap between 0.071 and 0.262.
"""
import numpy as np

from losses.ssim import ssim_map
from methods import METHODS, function
from models.vae import LOG_VAR_BOUND, gaussian_nll, kl_to_standard_normal

ACTIVE_VARIANCE = 0.01
MAX_LOSS_RATIO, MIN_NLL_GAIN, MIN_SPREAD_RATIO, MIN_R2 = 0.9, 0.05, 0.3, 0.15
# every measure's fields, in the order of metrics.csv's fit_* columns and run.json
FIELDS = ("loss", "constant_loss", "loss_ratio", "nll_gain", "r2", "ssim", "spread_ratio",
          "correlation", "kl", "active_units", "explains_structure", "trained")
FIT_COLUMNS = tuple(f"fit_{key}" for key in FIELDS)  # their names in metrics.csv


def _batched(fn, x, batch=64):
    return [np.concatenate(parts) for parts in zip(*(
        [np.asarray(out) for out in fn(x[i:i + batch])] for i in range(0, len(x), batch)))]


def loss_ratio(model, x, m, loss, batch):
    """A model trained with a loss on its reconstruction: that loss against the constant
    patch's. Returns the reconstructions, the row (loss, constant_loss, loss_ratio) and
    whether it beats the constant clearly."""
    x_hat = _batched(lambda b: (model(b, training=False),), x, batch)[0].astype(np.float32)
    row = {"loss": float(np.mean(loss(x, x_hat))), "constant_loss": float(np.mean(loss(x, m)))}
    row["loss_ratio"] = row["loss"] / row["constant_loss"]
    return x_hat, row, row["loss_ratio"] <= MAX_LOSS_RATIO


def nll_gain(model, x, m, loss, batch):
    """The VAE (``loss`` None: it holds its own): its negative ELBO at the posterior mean
    against the best constant Gaussian's, whose per-pixel variance is bounded as the
    decoder's is (models/vae.py LOG_VAR_BOUND). The reconstruction is the decoder's mean."""
    z_mean, z_log_var = _batched(lambda b: model.encoder(b, training=False), x, batch)
    x_hat, x_log_var = _batched(lambda z: model.decoder(z, training=False), z_mean, batch)
    kl = np.asarray(kl_to_standard_normal(z_mean, z_log_var))
    nll = np.asarray(gaussian_nll(x, x_hat, x_log_var)).sum(axis=(1, 2, 3))
    bound = np.exp([-LOG_VAR_BOUND, LOG_VAR_BOUND])
    var = np.clip(x.var(axis=0, keepdims=True), *bound).astype(np.float32)
    constant = np.asarray(gaussian_nll(x, m, np.log(var))).sum(axis=(1, 2, 3))
    row = {"loss": float((nll + kl).mean()), "constant_loss": float(constant.mean())}
    row["nll_gain"] = (row["constant_loss"] - row["loss"]) / x[0].size
    row["kl"] = float(kl.mean())
    row["active_units"] = int((z_mean.reshape(len(x), -1).var(axis=0) > ACTIVE_VARIANCE).sum())
    return x_hat.astype(np.float32), row, row["nll_gain"] >= MIN_NLL_GAIN


def trainedness(model, method, patches, batch=64):
    """The measures above for one model on (N, p, p, 1) float32 validation patches: a dict
    with the keys of FIELDS that its method's measure gives (methods.py fit_columns)."""
    entry = METHODS[method]
    x = np.asarray(patches, np.float32)
    m = np.broadcast_to(x.mean(axis=0, keepdims=True), x.shape)
    # its training loss (methods.py), or, where its train_step holds one, the model's
    # own per patch (``patch_loss``: the FM-AE's Eq. 3); the VAE's measure needs none
    loss = function(entry.loss) if entry.loss else getattr(model, "patch_loss", None)
    x_hat, row, better = function(entry.measure)(model, x, m, loss, batch)
    if set(row) - {"loss", "constant_loss"} != set(entry.fit_columns):
        raise ValueError(f"{method}'s measure gave {sorted(row)}, not its fit_columns "
                         f"{entry.fit_columns} (methods.py)")
    row["r2"] = float(1.0 - np.sum((x - x_hat) ** 2) / np.sum((x - m) ** 2))
    row["ssim"] = float(np.mean(ssim_map(x, x_hat)))
    row["spread_ratio"] = float(x_hat.std(axis=(1, 2, 3)).mean() / x.std(axis=(1, 2, 3)).mean())
    flat = x_hat.std() == 0  # a constant output correlates with nothing
    row["correlation"] = 0.0 if flat else float(np.corrcoef(x.ravel(), x_hat.ravel())[0, 1])
    row["explains_structure"] = bool(row["r2"] >= MIN_R2)
    row["trained"] = bool(better and row["spread_ratio"] >= MIN_SPREAD_RATIO
                          and row["explains_structure"])
    return {key: row[key] for key in FIELDS if key in row}
