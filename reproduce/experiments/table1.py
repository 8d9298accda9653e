"""Table 1 of the paper: the autoencoder's architecture, read back from the built models.

Rather than copying the paper's table, this builds the l2/SSIM autoencoder and the VAE
exactly as training does (``models.build_autoencoder``, ``models.build_vae`` at the
profile's latent size and patch size), lists every convolution with its output shape,
kernel, stride, padding and activation, and checks each row against the paper's Table 1
(hard-coded below for 128 px patches, from docs/PAPER_NOTES.md). The VAE shares the backbone; only
its extra heads are listed (the two latent convolutions for mean and log-variance, and
the two output layers for the per-pixel mean and log-variance).

Writes ``table1.csv`` and ``table1.md``. A mismatch of the 128-px autoencoder with the
paper is a bug in models/, so it stops the run (RuntimeError) instead of being reported.

Padding: Keras "same" on the 4x4 and 3x3 layers pads 1 px on each side here (the paper's
padding 1), "valid" pads none (the paper's padding 0 on the 8x8 layers).
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from files import atomic_write_text

LRELU = "LeakyReLU(0.2)"
# The paper's Table 1 at 128 px: layer -> (output H, W, C; "d" = latent size), kernel,
# stride, padding ("same" = 1 px, "valid" = 0 px), activation. "not LeakyReLU" for the
# output: the paper has none there; the implementation uses a sigmoid (images in [0, 1]).
PAPER_128 = [
    ("conv1", (64, 64, 32), 4, 2, "same", LRELU),
    ("conv2", (32, 32, 32), 4, 2, "same", LRELU),
    ("conv3", (32, 32, 32), 3, 1, "same", LRELU),
    ("conv4", (16, 16, 64), 4, 2, "same", LRELU),
    ("conv5", (16, 16, 64), 3, 1, "same", LRELU),
    ("conv6", (8, 8, 128), 4, 2, "same", LRELU),
    ("conv7", (8, 8, 64), 3, 1, "same", LRELU),
    ("conv8", (8, 8, 32), 3, 1, "same", LRELU),
    ("conv9_latent", (1, 1, "d"), 8, 1, "valid", "linear"),
    ("convT1", (8, 8, 32), 8, 1, "valid", LRELU),
    ("conv10", (8, 8, 64), 3, 1, "same", LRELU),
    ("conv11", (8, 8, 128), 3, 1, "same", LRELU),
    ("convT2", (16, 16, 64), 4, 2, "same", LRELU),
    ("conv12", (16, 16, 64), 3, 1, "same", LRELU),
    ("convT3", (32, 32, 32), 4, 2, "same", LRELU),
    ("conv13", (32, 32, 32), 3, 1, "same", LRELU),
    ("convT4", (64, 64, 32), 4, 2, "same", LRELU),
    ("convT5", (128, 128, 1), 4, 2, "same", "not LeakyReLU"),
]
# The VAE's heads, each the counterpart of one paper row (same shape, kernel, stride).
VAE_HEADS = {"conv9_mean": "conv9_latent", "conv9_log_var": "conv9_latent",
             "convT5_mean": "convT5", "convT5_log_var": "convT5"}
COLUMNS = ["model", "part", "layer", "output shape", "kernel", "stride", "padding",
           "activation", "paper", "matches paper"]


def _shape(shape, latent_dim):
    return "x".join(str(latent_dim if s == "d" else s) for s in shape)


def _conv_rows(keras_model, part):
    """Every convolution of a Keras (sub)model: name, output shape, kernel, stride,
    padding, activation (a LeakyReLU layer named '<conv>_lrelu' counts as its activation;
    the VAE's 'bounded_log_var' and 'bounded_z_log_var' are the scaled tanh after the
    decoder's and the encoder's log-variance outputs)."""
    names = {layer.name for layer in keras_model.layers}
    rows = []
    for layer in keras_model.layers:
        if not hasattr(layer, "kernel_size"):
            continue
        activation = layer.get_config()["activation"]
        if f"{layer.name}_lrelu" in names:
            activation = LRELU
        elif layer.name == "convT5_log_var" and "bounded_log_var" in names:
            activation = "6 tanh(x / 6)"
        elif layer.name == "conv9_log_var" and "bounded_z_log_var" in names:
            activation = "10 tanh(x / 10)"
        rows.append({"part": part, "layer": layer.name,
                     "output shape": "x".join(str(s) for s in layer.output.shape[1:]),
                     "kernel": "x".join(str(k) for k in layer.kernel_size),
                     "stride": layer.strides[0], "padding": layer.padding,
                     "activation": activation})
    return rows


def _paper_row(name, latent_dim):
    for layer, shape, kernel, stride, padding, activation in PAPER_128:
        if layer == name:
            return {"output shape": _shape(shape, latent_dim), "kernel": f"{kernel}x{kernel}",
                    "stride": stride, "padding": padding, "activation": activation}
    return None


def _matches(row, paper):
    if paper is None:
        return False
    same = all(row[k] == paper[k] for k in ("output shape", "kernel", "stride", "padding"))
    if paper["activation"] == "not LeakyReLU":
        return same and row["activation"] != LRELU
    return same and row["activation"] == paper["activation"]


def _paper_text(paper):
    if paper is None:
        return "-"
    return (f"{paper['output shape']}, {paper['kernel']}/{paper['stride']}, "
            f"{paper['padding']}, {paper['activation']}")


def architecture_rows(latent_dim=100, patch_size=128):
    """The table as a list of dicts (COLUMNS); 'matches paper' is 'yes', 'no' or 'n/a'
    (256-px models have one more layer on each side and are not in the paper's table)."""
    from models.autoencoder import build_autoencoder
    from models.vae import build_vae

    ae = build_autoencoder(latent_dim, patch_size)
    vae = build_vae(latent_dim, patch_size)
    rows = []
    for model_name, part, submodel, keep in (
            (f"AE {patch_size} px", "encoder", ae.encoder, None),
            (f"AE {patch_size} px", "decoder", ae.decoder, None),
            (f"VAE {patch_size} px", "encoder head", vae.encoder, ("conv9_mean", "conv9_log_var")),
            (f"VAE {patch_size} px", "decoder head", vae.decoder, ("convT5_mean", "convT5_log_var"))):
        for row in _conv_rows(submodel, part):
            if keep is not None and row["layer"] not in keep:
                continue
            paper = _paper_row(VAE_HEADS.get(row["layer"], row["layer"]), latent_dim)
            if row["layer"] in ("convT5_log_var", "conv9_log_var") and paper is not None:
                paper = {**paper, "activation": "not LeakyReLU"}
            row = {"model": model_name, **row, "paper": _paper_text(paper)}
            if patch_size != 128:
                row["matches paper"] = "n/a"
            else:
                row["matches paper"] = "yes" if _matches(row, paper) else "no"
            rows.append(row)
    return rows


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def run(ctx) -> list[Path]:
    latent_dim = int(ctx.profile.get("latent_dim", 100))
    patch_size = int(ctx.profile.get("patch_size", 128))
    ctx.out.mkdir(parents=True, exist_ok=True)
    rows = architecture_rows(latent_dim, patch_size)
    if patch_size != 128:  # the check is always made on the paper's 128-px model
        rows = architecture_rows(latent_dim, 128) + rows
    check = [r for r in rows if r["model"] == "AE 128 px"]
    bad = [r["layer"] for r in check if r["matches paper"] != "yes"]
    if bad or len(check) != len(PAPER_128):
        raise RuntimeError(f"the 128-px autoencoder differs from the paper's Table 1 at "
                           f"{bad or 'the number of layers'} ({len(check)} convolutions, "
                           f"paper {len(PAPER_128)}): fix models/autoencoder.py")
    df = pd.DataFrame(rows, columns=COLUMNS)
    csv_path, md_path = ctx.out / "table1.csv", ctx.out / "table1.md"
    atomic_write_text(csv_path, df.to_csv(index=False))
    n_yes = int((df["matches paper"] == "yes").sum())
    md = (f"# Table 1: architecture (latent size d = {latent_dim}, patches of {patch_size} px)\n\n"
          "Read back from the models that are trained (models/autoencoder.py, models/vae.py). "
          "The l2-AE and the SSIM-AE share this network. The VAE has the same backbone; only "
          "its extra heads are listed. 'paper' is the paper's row at 128 px (output, "
          "kernel/stride, padding, activation; 'same' = 1 px, 'valid' = 0 px).\n\n"
          f"{n_yes} of {len(df)} rows match the paper.\n\n" + _markdown(df) + "\n")
    atomic_write_text(md_path, md)
    ctx.log(f"table1: {n_yes}/{len(df)} layers match the paper's Table 1")
    return [csv_path, md_path]
