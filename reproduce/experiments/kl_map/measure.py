"""kl_map, the measurements on one trained VAE (Section 3.1.2's KL map, issue 22 item 5).

The KL of a window is computed here from the encoder's posterior alone, in float64 numpy,
and split in two parts that add up to it:

    KL(N(mu, diag(exp(lv))) || N(0, I)) = 0.5 sum mu^2  +  0.5 sum (exp(lv) - 1 - lv)
                                          (mean part)      (variance part)

The mean part grows with the distance of the posterior's mean from the prior's; the
variance part with how far its widths are from 1 (narrow or wide). Three measurements:

- ``placement``: the project's KL map (evaluation/maps.py) at a defect's centroid against
  the mean closed-form KL of every window of the map's grid covering that pixel, each cut
  from the image by hand; the map is that mean by definition, so any difference is a
  misplaced, transposed or mis-averaged map (or floating-point noise).
- ``window_table``: every window of the map's grid (stride ``kl_stride``) in every test
  image: its KL, both parts, its standard deviation (contrast), the share of its pixels
  in the defect mask, and the VAE's R^2 on it (reconstruction by the decoder's mean at
  z = mu). ``summary_rows`` compares the defective windows (at least SHARE of their
  pixels in the mask) with the windows of the defect-free test images, per defect kind.
- ``probes``: defect-free validation windows with their contrast scaled about their mean
  (c = 0: flat at the mean, c = 1: as they are), and white noise with each window's mean
  and standard deviation (its contrast without its structure).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from evaluation.maps import anomaly_maps
from evaluation.windows import extract_patches, window_starts
from methods import MAPS

KL_MAP = "vae_kl"                 # the map explained
METHOD = MAPS[KL_MAP].method      # the model that gives it (methods.py)
SHARE = 0.10                      # a window is defective with at least this share in the mask
CONTRASTS = (0.0, 0.5, 1.0, 1.5)  # the probes' contrast factors
PROBE_WINDOWS = 256               # validation windows probed per model (fewer where fewer)
NOISE = "white noise"             # the probe with a window's mean and std, no structure
CLEAN, ALL = "defect-free images", "all defective"  # summary rows besides the kinds
PARTS = ("kl", "mean_part", "var_part")


def closed_form_kl(mu, log_var) -> np.ndarray:
    """KL(N(mu, exp(log_var)) || N(0, I)) per row of (N, d) arrays, float64, one formula."""
    mu, log_var = np.asarray(mu, np.float64), np.asarray(log_var, np.float64)
    return 0.5 * np.sum(mu ** 2 + np.exp(log_var) - 1.0 - log_var, axis=1)


def kl_parts(mu, log_var) -> tuple[np.ndarray, np.ndarray]:
    """The closed-form KL's two parts per row: (0.5 |mu|^2, 0.5 sum(exp(lv) - 1 - lv))."""
    mu, log_var = np.asarray(mu, np.float64), np.asarray(log_var, np.float64)
    return 0.5 * np.sum(mu ** 2, axis=1), 0.5 * np.sum(np.exp(log_var) - 1.0 - log_var, axis=1)


def posterior(model, windows, batch: int, reconstruct: bool = False):
    """The encoder's (mu, log_var) of windows (N, p, p), each (N, d) float64; with
    ``reconstruct`` also the VAE's R^2 on each window (N,): 1 - SSE(x, x_hat) / SSE(x,
    mean of x), x_hat the decoder's mean at z = mu (NaN for a flat window)."""
    mus, log_vars, r2 = [], [], []
    for start in range(0, len(windows), batch):
        x = np.asarray(windows[start:start + batch], np.float32)[..., None]
        mu, log_var = model.encoder(x, training=False)
        mus.append(np.asarray(mu, np.float64).reshape(len(x), -1))
        log_vars.append(np.asarray(log_var, np.float64).reshape(len(x), -1))
        if reconstruct:
            x_hat = np.asarray(model.decoder(mu, training=False)[0], np.float64)
            x = x.astype(np.float64)
            total = np.sum((x - x.mean(axis=(1, 2, 3), keepdims=True)) ** 2, axis=(1, 2, 3))
            error = np.sum((x - x_hat) ** 2, axis=(1, 2, 3))
            r2.append(np.where(total > 0, 1.0 - error / np.where(total > 0, total, 1.0), np.nan))
    out = (np.concatenate(mus), np.concatenate(log_vars))
    return out + (np.concatenate(r2),) if reconstruct else out


def first_of_each_kind(ds) -> list[int]:
    """The first test image of each kind (test-set order) that has a mask or is defect-free."""
    first = {}
    for i, kind in enumerate(ds.defect_types):
        if kind not in first and (ds.has_mask[i] or ds.labels[i] == 0):
            first[kind] = i
    return list(first.values())


def _centre(ds, i) -> tuple[int, int]:
    """The defect's centroid (rounded), or the image's centre for a defect-free image."""
    if ds.labels[i] == 0 or not ds.masks[i].any():
        return ds.test.shape[1] // 2, ds.test.shape[2] // 2
    return tuple(int(round(v)) for v in np.argwhere(ds.masks[i]).mean(axis=0))


def placement(model, ds, patch: int, stride: int, batch: int) -> list[dict]:
    """For the first test image of each kind: the KL map at the defect's centroid against
    the mean closed-form KL of the grid's windows covering it, each cut by hand."""
    chosen = first_of_each_kind(ds)
    maps = anomaly_maps(model, METHOD, ds.test[chosen], patch=patch, batch=batch,
                        kl_stride=stride, maps=(KL_MAP,))[KL_MAP]
    rows = window_starts(ds.test.shape[1], patch, stride)
    cols = window_starts(ds.test.shape[2], patch, stride)
    out = []
    for k, i in enumerate(chosen):
        y, x = _centre(ds, i)
        covering = [(r, c) for r in rows for c in cols if r <= y < r + patch and c <= x < c + patch]
        windows = np.stack([ds.test[i][r:r + patch, c:c + patch] for r, c in covering])
        by_hand = float(closed_form_kl(*posterior(model, windows, batch)).mean())
        value = float(maps[k, y, x])
        out.append({"kind": ds.defect_types[i], "image": int(i), "row": y, "col": x,
                    "windows": len(covering), "map": value, "by_hand": by_hand,
                    "abs_diff": abs(value - by_hand)})
    return out


def window_table(model, ds, patch: int, stride: int, batch: int) -> dict[str, np.ndarray]:
    """One entry per window of the map's grid in every test image (image by image, so
    that memory stays that of one image's windows): image, kind, defective (a defective
    image with a mask and at least SHARE of the window in it), clean (a window of a
    defect-free image), share, kl, mean_part, var_part, std, r2."""
    columns = {name: [] for name in ("image", "share", "mean_part", "var_part", "std", "r2")}
    for i in range(len(ds.test)):
        windows, _ = extract_patches(ds.test[i], patch, stride)
        inside, _ = extract_patches(ds.masks[i].astype(np.uint8), patch, stride)
        mu, log_var, r2 = posterior(model, windows, batch, reconstruct=True)
        mean_part, var_part = kl_parts(mu, log_var)
        columns["image"].append(np.full(len(windows), i))
        columns["share"].append(inside.reshape(len(windows), -1).mean(axis=1))
        columns["std"].append(windows.reshape(len(windows), -1).std(axis=1, dtype=np.float64))
        for name, value in (("mean_part", mean_part), ("var_part", var_part), ("r2", r2)):
            columns[name].append(value)
    t = {name: np.concatenate(parts) for name, parts in columns.items()}
    t["kl"] = t["mean_part"] + t["var_part"]
    t["kind"] = np.asarray(ds.defect_types)[t["image"]]
    labels, has_mask = np.asarray(ds.labels)[t["image"]], np.asarray(ds.has_mask)[t["image"]]
    t["clean"] = labels == 0
    t["defective"] = (labels == 1) & has_mask & (t["share"] >= SHARE)
    return t


def window_auroc(negatives, positives) -> float:
    """ROC AUC of positives (defective windows) against negatives (defect-free ones):
    above 0.5 where the positives score higher; NaN where either set is empty."""
    negatives, positives = np.asarray(negatives, float), np.asarray(positives, float)
    if not len(negatives) or not len(positives):
        return float("nan")
    labels = np.r_[np.zeros(len(negatives)), np.ones(len(positives))]
    return float(roc_auc_score(labels, np.r_[negatives, positives]))


def _spearman(a, b) -> float:
    """Spearman's rank correlation of a and b over the entries where both are finite (NaN
    where it is undefined: fewer than 3, or either constant)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:  # undefined
        return float("nan")
    return float(spearmanr(a, b)[0])


def summary_rows(t: dict) -> list[dict]:
    """Per defect kind (then all kinds together) its defective windows against the clean
    ones: counts, means of the KL, its parts, std and R^2, and window-level AUROCs of the
    KL, of -std (lower contrast scores higher), of each part. The first row: the clean,
    with Spearman's rho of KL and std over the clean windows and of each part and R^2 over
    every window (rho_kl_std, rho_mean_part_r2, rho_var_part_r2)."""
    def row(name, chosen, against):
        out = {"kind": name, "windows": int(chosen.sum()),
               **{k: float(np.nanmean(t[k][chosen])) if chosen.any() else float("nan")
                  for k in PARTS + ("std", "r2")}}
        if against is not None:
            for key, score in (("kl", t["kl"]), ("neg_std", -t["std"]),
                               ("mean_part", t["mean_part"]), ("var_part", t["var_part"])):
                out[f"auroc_{key}"] = window_auroc(score[against], score[chosen])
        return out

    rows = [row(CLEAN, t["clean"], None)]
    # how closely the KL follows contrast on defect-free windows, and the parts follow
    # how much of a window the VAE reconstructs (R^2), over every window
    rows[0]["rho_kl_std"] = _spearman(t["kl"][t["clean"]], t["std"][t["clean"]])
    for part in ("mean_part", "var_part"):
        rows[0][f"rho_{part}_r2"] = _spearman(t[part], t["r2"])
    kinds = [str(k) for k in dict.fromkeys(t["kind"][t["defective"]])]
    rows += [row(k, t["defective"] & (t["kind"] == k), t["clean"]) for k in kinds]
    return rows + [row(ALL, t["defective"], t["clean"])]


def probes(model, val, patch: int, stride: int, batch: int, seed: int = 0) -> list[dict]:
    """Mean KL and parts of up to PROBE_WINDOWS defect-free validation windows of the
    map's grid (drawn with ``seed``) at each contrast c of CONTRASTS (m + c (x - m), m the
    window's mean), and of white noise with each window's mean and std; clipped to [0, 1],
    the images' range."""
    windows, _ = extract_patches(np.asarray(val, np.float32), patch, stride)
    rng = np.random.default_rng(seed)
    a = windows[np.sort(rng.choice(len(windows), min(PROBE_WINDOWS, len(windows)), replace=False))]
    m, s = a.mean(axis=(1, 2), keepdims=True), a.std(axis=(1, 2), keepdims=True)
    inputs = [(f"contrast {c:g}", c, m + c * (a - m)) for c in CONTRASTS]
    inputs.append((NOISE, float("nan"), m + s * rng.standard_normal(a.shape)))
    out = []
    for name, c, x in inputs:
        mean_part, var_part = kl_parts(*posterior(model, np.clip(x, 0, 1), batch))
        out.append({"probe": name, "contrast": c, "windows": len(a),
                    "kl": float((mean_part + var_part).mean()),
                    "mean_part": float(mean_part.mean()), "var_part": float(var_part.mean())})
    return out
