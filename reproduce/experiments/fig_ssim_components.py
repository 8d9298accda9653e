"""Figure 2 of the paper: SSIM's three comparisons see what a per-pixel l2 cannot.

Three pairs of 32 x 32 patches (p, q), built so that |p - q| = 0.5 at *every* pixel: the
per-pixel l2 residual is the constant 0.25 in all three, so an l2-autoencoder cannot tell
them apart. Each pair differs in one property only, and SSIM's matching comparison
function singles it out (losses/ssim.py, ``ssim_components``, 11 x 11 Gaussian window):

- luminance: q = p + 0.5 (same pattern, same contrast, brighter)  -> l low, c = s = 1
- contrast:  p = 0.5 flat, q = 0.5 +- 0.5 in the same pattern     -> c low, l, s ~ 1
  (with a +-1 pattern s, p = m + a s and q = m + b s keep the pattern; |a - b| = 0.5 with
  q inside [0, 1] forces a = 0, b = 0.5)
- structure: p = 0.5 + 0.25 s, q = 0.5 - 0.25 s (same mean and contrast, inverted
  pattern)                                                        -> s = -1, l, c ~ 1

s is a fixed random +-1 pattern (seed 0). Means are taken over the interior (5 px away
from the border, where the window is complete). Writes ``fig_ssim_components.png`` (rows:
the three cases; columns: p, q, l2 residual, l, c, s maps, each titled with its mean) and
``fig_ssim_components.csv``. No training. The constructed values are checked here: if
the l2 residual is not 0.25 everywhere or a case's own component is not the one that
drops (below 0.5 while the other two stay above 0.9), RuntimeError.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from files import atomic_write_text
from reproduce.plotting import pyplot, save_figure

SIZE, BORDER = 32, 5
CASES = ("luminance", "contrast", "structure")


def patch_pairs(size=SIZE, seed=0):
    """{case: (p, q)} float32 (size, size) in [0, 1], |p - q| = 0.5 everywhere."""
    s = np.where(np.random.default_rng(seed).random((size, size)) < 0.5, -1.0, 1.0)
    pairs = {"luminance": (0.1 + 0.1 * s, 0.6 + 0.1 * s),
             "contrast": (np.full_like(s, 0.5), 0.5 + 0.5 * s),
             "structure": (0.5 + 0.25 * s, 0.5 - 0.25 * s)}
    return {k: (p.astype(np.float32), q.astype(np.float32)) for k, (p, q) in pairs.items()}


def component_maps(p, q):
    """l2 residual, l, c, s and SSIM maps of one pair (each (H, W))."""
    from losses.ssim import ssim_components, ssim_map

    P, Q = p[None, :, :, None], q[None, :, :, None]
    l, c, s = (np.asarray(m)[0, :, :, 0] for m in ssim_components(P, Q))
    return {"l2": (p - q) ** 2, "l": l, "c": c, "s": s,
            "ssim": np.asarray(ssim_map(P, Q))[0, :, :, 0]}


def _interior(a):
    return a[BORDER:-BORDER, BORDER:-BORDER]


def run(ctx) -> list[Path]:
    import pandas as pd

    plt = pyplot()
    ctx.out.mkdir(parents=True, exist_ok=True)
    pairs = patch_pairs()
    maps = {case: component_maps(*pairs[case]) for case in CASES}
    rows = []
    for case in CASES:
        m = maps[case]
        if not np.allclose(m["l2"], 0.25, atol=1e-6):
            raise RuntimeError(f"fig_ssim_components: the {case} pair's l2 residual is not "
                               f"0.25 everywhere (range {m['l2'].min()}..{m['l2'].max()})")
        rows.append({"case": case, **{f"{k}_mean": float(_interior(m[k]).mean())
                                      for k in ("l2", "l", "c", "s", "ssim")}})
    for case, row in zip(CASES, rows):
        own = case[0]
        others = [k for k in "lcs" if k != own]
        if not (row[f"{own}_mean"] < 0.5 and all(row[f"{k}_mean"] > 0.9 for k in others)):
            raise RuntimeError(f"fig_ssim_components: in the {case} case the {own} map should "
                               f"be the low one: {row}")

    columns = [("p", None), ("q", None), ("l2", "l2 residual (p - q)^2"),
               ("l", "luminance l"), ("c", "contrast c"), ("s", "structure s")]
    fig, axes = plt.subplots(len(CASES), len(columns), figsize=(2.6 * len(columns), 2.6 * len(CASES)),
                             constrained_layout=True)
    for r, case in enumerate(CASES):
        p, q = pairs[case]
        for c, (key, title) in enumerate(columns):
            ax = axes[r, c]
            if key in ("p", "q"):
                img = ax.imshow(p if key == "p" else q, cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{key}  (mean {(p if key == 'p' else q).mean():.2f})", fontsize=9)
            else:
                data = maps[case][key]
                vmin, vmax, cmap = ((0, 0.5, "magma") if key == "l2" else
                                    (-1, 1, "RdBu_r") if key == "s" else (0, 1, "viridis"))
                img = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax)
                ax.set_title(f"{title}\nmean {_interior(data).mean():.3f}", fontsize=9)
            fig.colorbar(img, ax=ax, fraction=0.046, pad=0.03)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(f"differs in {case}\nSSIM {rows[r]['ssim_mean']:.3f}", fontsize=10)
    fig.suptitle("Same per-pixel l2 residual (0.25 everywhere), three different changes: "
                 "SSIM's l, c, s each single out one (means over the interior)", fontsize=11)
    png, csv = ctx.out / "fig_ssim_components.png", ctx.out / "fig_ssim_components.csv"
    save_figure(fig, png)
    atomic_write_text(csv, pd.DataFrame(rows).to_csv(index=False, float_format="%.4f"))
    ctx.log("fig_ssim_components: " + ", ".join(
        f"{r['case']} l={r['l_mean']:.2f} c={r['c_mean']:.2f} s={r['s_mean']:.2f}" for r in rows))
    return [png, csv]
