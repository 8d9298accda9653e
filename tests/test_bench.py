"""The benchmark's arithmetic and its verdicts (its timings are not tested: they are
measurements, written to results/benchmark.md by ``python -m reproduce bench``)."""
from reproduce import profiles
from reproduce.experiments import bench
from training import build

# Table 1 at 128 px, by hand: (output side, kernel, in channels, out channels) per layer;
# a transposed convolution is counted on its input side (each input pixel x kernel x out)
CONVS = [(64, 4, 1, 32), (32, 4, 32, 32), (32, 3, 32, 32), (16, 4, 32, 64), (16, 3, 64, 64),
         (8, 4, 64, 128), (8, 3, 128, 64), (8, 3, 64, 32), (1, 8, 32, 100),          # encoder
         (8, 3, 32, 64), (8, 3, 64, 128), (16, 3, 64, 64), (32, 3, 32, 32)]           # decoder
TRANSPOSED = [(1, 8, 100, 32), (8, 4, 128, 64), (16, 4, 64, 32), (32, 4, 32, 32), (64, 4, 32, 1)]


def test_forward_macs_match_a_hand_count_of_table_1():
    hand = sum(s * s * k * k * cin * cout for s, k, cin, cout in CONVS + TRANSPOSED)
    assert bench.forward_macs(build("l2_ae", profiles.get("smoke"))) == hand
    assert 0.2e9 < 2 * hand < 0.3e9  # about a quarter GFLOP per forward pass


def _result(train_ratio, ssim_rate, segment_ratio):
    rate = lambda a, b, m: {"method": m, "path_patches_per_s": a, "path_range": [a, a],
                            "bare_patches_per_s": b, "bare_range": [b, b], "ratio": a / b}
    return {"train": [rate(60 * train_ratio, 60, "l2_ae"), rate(ssim_rate, ssim_rate, "ssim_ae"),
                      rate(50, 50, "vae")],
            "sampler": [{"rotation": "quarter", "patches_per_s": 900, "range": [800, 1000]}],
            "segment": [{"map": "l2", "path_s": segment_ratio, "path_range": [1, 1], "bare_s": 1.0,
                         "bare_range": [1, 1], "ratio": segment_ratio}],
            "forward_gmacs_per_patch": 0.12, "gflops": 40.0, "peak_gflops": 160.0,
            "peak_how": "test", "peak_rss_mb": {"train": 900.0, "evaluate": 1200.0},
            "smoke_wall_s": 100.0, "default_wall_s": None,
            "host": {"cpu": "x", "cores": 2, "tensorflow": "t", "keras": "k", "onednn": "1",
                     "xla_jit": False}}


def test_markdown_says_which_targets_are_missed():
    good = bench.markdown(_result(train_ratio=0.95, ssim_rate=50, segment_ratio=1.2))
    assert "**missed**" not in good and good.count("met") >= 4
    bad = bench.markdown(_result(train_ratio=0.7, ssim_rate=20, segment_ratio=2.0))
    assert bad.count("**missed**") == 3  # l2 pipeline ratio, SSIM cost 2x, segmentation 2x
    assert "| l2_ae | float32 | 42.0" in bad and "0.70 | **missed**" in bad


def test_bf16_rows_are_compared_with_float32_and_do_not_replace_them():
    r = _result(train_ratio=0.95, ssim_rate=50, segment_ratio=1.2)
    r["train"] += [dict(row, precision="bf16", path_patches_per_s=2 * row["path_patches_per_s"])
                   for row in r["train"]]
    r["host"].update(native_bf16=True, bf16_how="CPU flag avx512_bf16")
    text = bench.markdown(r)
    assert "l2_ae 2.00x, ssim_ae 2.00x, vae 2.00x" in text and "natively" in text
    assert "| ssim_ae | bf16 | 100.0" in text
    # the SSIM-vs-l2 cost compares float32 with float32 (1.14x), not a bf16 row
    assert "SSIM-AE costs 1.14x" in text



def test_one_image_at_a_protocol_size_and_what_a_category_costs(monkeypatch):
    """The MVTec AD measurement, at a tiny size (the benchmark runs it at 512 x 512). The
    maps are computed for real; the clock is a fake one whose two timed repetitions
    last 3 and 1 s, so the arithmetic is checked whatever the machine's speed."""
    from types import SimpleNamespace
    ticks = iter([0.0, 3.0, 10.0, 11.0])
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))
    rows = bench.protocol_image_cost(2, size=160, methods=("l2_ae",))
    assert [(r["method"], r["size"], r["stride"]) for r in rows] == [("l2_ae", 160, 30)]
    assert rows[0]["seconds"] == 2.0 and rows[0]["range"] == [1.0, 3.0]  # median, min, max
    fake = [{"method": "l2_ae", "size": 512, "profile": "cpu", "stride": 30, "seconds": 2.0,
             "range": [1.9, 2.1]}, dict(rows[0], method="ssim_ae", size=512, seconds=1.0)]
    cost = bench.category_cost(fake)
    assert cost["carpet"] == {"images": 117 + 28, "seconds": (117 + 28) * 3.0}
    r = _result(train_ratio=0.95, ssim_rate=50, segment_ratio=1.2)
    assert "MVTec AD" not in bench.markdown(r)  # an older benchmark.json: no section
    text = bench.markdown(dict(r, mvtec=fake))
    assert "## One MVTec AD image at the protocol's 512 x 512" in text
    assert "| l2_ae | l2, ssim | 2.00 [1.90-2.10] |" in text
    assert f"| carpet | 145 | {145 * 3.0 / 60:.1f} |" in text
