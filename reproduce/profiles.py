"""The three profiles, as one table: how much to train and how to evaluate.

- ``paper``: the paper's schedule (docs/PAPER_NOTES.md, re-implementations): 200 epochs of 10,000
  random 128 x 128 patches, batch 128, Adam 2e-4, weight decay 1e-5, d = 100. For a GPU:
  on a 2-core CPU this is 3-4 hours per model.
- ``cpu`` (the default): what a 2-core CPU can do within 90 minutes for 4 datasets x
  3 models x 3 training seeds, every test image evaluated (the measured time of the last
  complete run, from an empty model cache: ``wall_seconds`` in results/run.json). 20
  epochs of 1,024 random patches per model at batch 32 and learning rate 1e-3: 640
  updates, where the paper's schedule has 15,625 at batch 128 (4 % of its updates, 1 % of
  its patches). How it was chosen (issue 21; results/README.md, "Training budget"):
  batch size and learning rate by the ``sweep`` (results/sweep/) on the development
  dataset fabric1, on validation loss only. At equal wall-clock time (90 s, about what
  one model of this run gets), learning rate 1e-3 beat the paper's 2e-4 at every batch
  size, and batches 16 and 32 beat 64 and 128 by far; between 16 and 32 the final losses
  differ by 4 % (l2-AE) and 7 % (SSIM-AE) on one seed, with crossing curves: not a
  difference we can claim, so batch 32 was kept (the batch at which the VAE's training
  was validated, and 1.5x the SSIM-AE's patches per second of batch 16). The length is
  set by the time limit, not by convergence: the validation losses of the sweep and of
  this run still fall at their last epoch. Measured on this machine (per epoch of one
  (dataset, seed): l2-AE 3.3 s, SSIM-AE and VAE more; plus about 110 s of evaluation and
  tracing per (dataset, seed) for the full test sets), one epoch more of every model
  costs about 2.5 minutes of the run and the fixed part about 25, so 20-24 epochs fit 90
  minutes; 20 keeps a margin for slower machines of the same class. A run with 30 epochs
  was started and stopped when its first models showed it would take about 105 minutes.
  How far 640 updates are from convergence is what the ``budget`` study measures (640
  ... 15,625 updates).
  The patches are turned and flipped by the square's eight symmetries
  (textures/patches.py): with rotations at any angle the SSIM-AE left its plateau four
  times later (results/extra/fabric2_any_angle). The VAE warms up over its first 10
  epochs (models/vae.py). Three training seeds on the same data give the seed spread of
  every number. Every generated test image (32 / 32 / 20 / 24 on fabric1 / fabric2 /
  nanofibres / brick) and every validation image are evaluated. On a CPU without AVX-512
  (Zen 3, AVX2) training is about 3.5x slower: ``--seeds 0`` keeps such a run near the
  limit.
- ``smoke``: the whole pipeline in about 1.5 minutes on small data, for the tests:
  4 training steps per model, windows at stride 64, two datasets evaluated at once (its
  cost is mostly tracing TensorFlow functions, which runs on one core).

Precision: ``auto`` decides once per run, bf16 where the hardware computes it natively
(reproduce/train.py ``resolve_precision``), float32 elsewhere. It is the ``cpu`` default
for the time budget:
results/bf16_check.md (an earlier version of the code, its run.json) compares the default run with a float32 companion (every
dataset, method and seed). The l2-AE's and SSIM-AE's pixel AUROCs moved by at most 0.041
and the fabrics' claims were the same; 4 of 16 maps moved by more than their interval
(all by at most 0.03), and float32 trained 33 of 36 models against bf16's 31. bf16 trains
1.30-1.54x faster (results/benchmark.md), which keeps the default run within its limit.
``--precision float32`` is the more robust choice. ``paper`` stays float32 (not measured
on a GPU); ``smoke`` too, so that the tests run the same arithmetic everywhere.

Everything that determines a trained model (training values, dataset, seed, code) goes
into its cache key (reproduce/cache.py); evaluation values do not. ``max_test_good``,
``max_test_per_type`` and ``max_val`` would evaluate a subset of a dataset (a stated one, for
MVTec-size data); no profile sets them.
"""
from errors import InputError

TRAINING_KEYS = ("patches_per_epoch", "epochs", "batch_size", "learning_rate",
                 "weight_decay", "latent_dim", "patch_size", "precision", "small_data", "rotation",
                 "ssim_loss", "kl_warmup_epochs")

PROFILES = {
    #                     paper     cpu      smoke
    "patches_per_epoch": (10_000,   1_024,   64),
    "epochs":            (200,      20,      1),
    "batch_size":        (128,      32,      16),
    "learning_rate":     (2e-4,     1e-3,    2e-4),
    "weight_decay":      (1e-5,     1e-5,    1e-5),
    "latent_dim":        (100,      100,     100),
    "patch_size":        (128,      128,     128),
    "precision":         ("float32", "auto",    "float32"),  # auto: bf16 where native (below)
    "small_data":        (False,    False,   True),   # smoke: fewer, smaller images
    "rotation":          ("quarter", "quarter", "quarter"),  # or "any" (textures/patches.py)
    "ssim_loss":         ("tf",     "tf",    "tf"),   # or "fast": separable, equal (losses/ssim.py)
    "kl_warmup_epochs":  (20,       10,      0),      # VAE: KL weight 0 -> 1 (models/vae.py)
    "stride":            (30,       30,      64),     # sliding-window evaluation
    "kl_stride":         (8,        32,      32),     # VAE KL map: one forward pass each
    "rp_samples":        (10,       4,       2),      # L for the reconstruction probability
    "min_defect_area":   (64,       64,      16),     # px; MVTec AD threshold rule
    "max_test_good":     (None,     None,    None),   # evaluation subset (None: all)
    "max_test_per_type": (None,     None,    None),
    "max_val":           (None,     None,    None),
    "eval_batch":        (256,      128,     64),
    "seeds":             ((0,),     (0, 1, 2), (0,)),  # training seeds; data: the first
    "jobs":              (1,        1,       2),      # datasets evaluated at once (runner.py)
}
NAMES = ("paper", "cpu", "smoke")
DEFAULT = "cpu"


def get(name: str) -> dict:
    """The profile's values as a dict, plus its name under ``"name"``."""
    if name not in NAMES:
        raise InputError(f"unknown profile {name!r}: choose one of {', '.join(NAMES)}")
    column = NAMES.index(name)
    return {"name": name, **{key: values[column] for key, values in PROFILES.items()}}
