"""table_auc's bold rule: a map is bold only where it leads by more than its interval."""
import math

from methods import MAPS
from reproduce.experiments import table_auc


def _rows(values, lows, trained=(3, 3, 3, 3)):
    return [{"pixel_auroc": v, "pixel_auroc_lo": lo, "n_trained": t, "n_seeds": 3, "aupro_30": v}
            for v, lo, t in zip(values, lows, trained)]


def test_the_leader_needs_an_interval_above_zero_chance_and_trained_models():
    values, lows = [0.70, 0.90, 0.40, 0.72], [0.6, 0.8, 0.3, 0.6]
    ahead = {table_auc._versus("ssim", "vae_rp"): (0.05, 0.25)}
    assert table_auc._leader(_rows(values, lows), "pixel_auroc", ahead) == "ssim"
    # the difference from the SECOND best decides, not the one from the l2-AE
    near = {table_auc._versus("ssim", "vae_rp"): (-0.01, 0.2), table_auc._versus("ssim", "l2"): (0.1, 0.3)}
    assert table_auc._leader(_rows(values, lows), "pixel_auroc", near) is None
    assert table_auc._leader(_rows(values, lows, (3, 2, 3, 3)), "pixel_auroc", ahead) is None
    assert table_auc._leader(_rows(values, [0.6, 0.45, 0.3, 0.6]), "pixel_auroc", ahead) is None
    assert table_auc._leader(_rows(values, lows), "pixel_auroc", {}) is None  # no interval
    assert table_auc._leader(_rows(values, lows), "aupro_30", ahead) is None  # no interval exists
    nan = _rows([math.nan, 0.9, math.nan, math.nan], lows)
    assert table_auc._leader(nan, "pixel_auroc", ahead) is None


def test_intervals_hold_every_ordered_pair(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    counts = {}
    for i, (name, m) in enumerate(MAPS.items()):
        c = rng.integers(0, 50, (2, 5, 2, 8))
        c[:, :, 1] = np.sort(c[:, :, 1], axis=-1) * (i + 1)  # more defect mass high up
        counts[f"{m.method}__{name}"] = c
    np.savez(tmp_path / "histograms.npz", seeds=np.array([0, 1]), **counts)
    box = table_auc.intervals(tmp_path)
    for a in MAPS:
        for b in MAPS:
            if a != b:
                low, high = box[table_auc._versus(a, b)]
                other_low, other_high = box[table_auc._versus(b, a)]
                assert low <= high and math.isclose(low, -other_high, abs_tol=1e-12)
