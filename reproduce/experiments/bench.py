"""``bench``: what every stage costs on this machine, measured side by side in one run.

Writes ``benchmark.md`` and ``benchmark.json`` into the output folder:

1. Training throughput (patches/s, 128 x 128, batch 128) per method, two ways: (a) the
   real path, the tf.data sampler with augmentation feeding ``fit``; (b) the same
   ``fit`` on one batch already in memory, repeated. a/b shows whether the input
   pipeline starves the model.
2. Segmentation of one 512 x 512 image at stride 30 per map (l2, ssim, vae_kl, vae_rp):
   the full path as ``segment`` runs it (evaluation.maps: patch extraction, batched calls
   of the method's map function, fold) vs the bare map function (the model calls and that
   map's per-patch arithmetic, compiled) on the same, already extracted patches. (Before
   the map functions moved into models/, "bare" timed the model calls alone.)
3. Achieved GFLOP/s of training from an analytic count of the network's multiply-adds
   (training ~ 3 x forward), beside the CPU's nominal peak.
   The same at the MVTec AD protocol's size (``protocol_image_cost``): every map of each
   method on one 512 x 512 image as ``evaluate`` computes them (the cpu profile's stride
   30), and from it what one MVTec AD texture category's evaluation costs on this CPU.
4. Wall time of ``run_all.sh --profile smoke`` (in a fresh cache) and of the default
   run as recorded in results/run.json; peak resident memory of training and evaluation.
5. Host facts.

Each figure is the median of ``--repeats`` (>= 3) timings after a warm-up, with the range.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from evaluation.maps import anomaly_maps, compiled_maps, maps_for
from evaluation.windows import extract_patches
from files import atomic_write_text
from methods import MAPS, METHODS, default_methods, own_maps
from reproduce import profiles, published
from reproduce.provenance import REPO, cpu_field, provenance
from reproduce.train import native_bf16
from textures.folders import MVTEC_IMAGE_SIZE
from textures.patches import patch_dataset
from training import build, set_precision, with_targets

TARGETS = {"train_ratio": 0.9, "segment_overhead": 1.5, "ssim_vs_l2": 1.5}
# the models of the paper's two residual maps, whose costs the targets compare
L2, SSIM = MAPS["l2"].method, MAPS["ssim"].method


def _timed(fn, repeats):
    fn()  # warm-up (tracing)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


class _EpochTimes(keras.callbacks.Callback):
    """Wall time of every epoch of one ``fit`` call (so no iterator is rebuilt between
    repetitions: a new iterator per repetition would time tf.data start-up, not training)."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def train_throughput(repeats, steps=4, batch=128, precisions=("float32", "bf16")):
    """Patches/s of ``fit``: one warm-up epoch, then ``repeats`` timed epochs of ``steps``,
    for every method and precision (bf16: the Keras mixed_bfloat16 policy). ``<method>_fast``
    is a method with its faster, equal loss (methods.py fast_loss; profile key ``ssim_loss:
    fast``: the SSIM-AE's separable SSIM)."""
    images = np.random.default_rng(0).random((8, 512, 512), dtype=np.float32)
    variants = [(m, m, "tf") for m in default_methods()] + [
        (f"{m}_fast", m, "fast") for m in default_methods() if METHODS[m].fast_loss]
    rows = []
    for precision in precisions:
        profile = dict(profiles.get("cpu"), precision=precision)
        set_precision(precision)
        for method, base, loss in variants:
            keras.utils.set_random_seed(0)
            model = build(base, dict(profile, ssim_loss=loss))
            path = patch_dataset(images, 128, batch, seed=0)
            bare = tf.data.Dataset.from_tensors(next(iter(path))).repeat()
            path, bare = with_targets(base, path), with_targets(base, bare)
            rates = {}
            for name, ds in (("path", path), ("bare", bare)):
                clock = _EpochTimes()
                model.fit(ds, epochs=1 + repeats, steps_per_epoch=steps, verbose=0, shuffle=False,
                          callbacks=[clock])
                rates[name] = sorted(steps * batch / t for t in clock.times[1:])
            a, b = statistics.median(rates["path"]), statistics.median(rates["bare"])
            rows.append({"method": method, "precision": precision, "path_patches_per_s": a,
                         "path_range": [rates["path"][0], rates["path"][-1]],
                         "bare_patches_per_s": b, "bare_range": [rates["bare"][0], rates["bare"][-1]],
                         "ratio": a / b})
            print(f"train {method} {precision}: path {a:.1f}, bare {b:.1f} patches/s", file=sys.stderr)
    set_precision("float32")
    return rows


def sampler_throughput(repeats, steps=8, batch=128):
    """Patches/s of the training sampler alone (no model), for both augmentations."""
    images = np.random.default_rng(0).random((8, 512, 512), dtype=np.float32)
    rows = []
    for rotation in ("quarter", "any"):
        it = iter(patch_dataset(images, 128, batch, seed=0, any_angle=rotation == "any"))
        median, fastest, slowest = _timed(lambda: [next(it) for _ in range(steps)], repeats)
        n = steps * batch
        rows.append({"rotation": rotation, "patches_per_s": n / median,
                     "range": [n / slowest, n / fastest]})
        print(f"sampler {rotation}: {rows[-1]['patches_per_s']:.0f} patches/s", file=sys.stderr)
    return rows


def segment_cost(repeats):
    """Per map of MAPS, on its own method's (untrained) model: the full path and the bare
    map function, each on one 512 x 512 image at the cpu profile's settings."""
    profile = profiles.get("cpu")
    image = np.random.default_rng(1).random((1, 512, 512), dtype=np.float32)
    batch, samples = profile["eval_batch"], profile["rp_samples"]
    rows = []
    models = {m: build(m, profile) for m in default_methods()}
    for name, spec in ((n, s) for n, s in MAPS.items() if s.method in models):
        method, model = spec.method, models[spec.method]
        stride = profile["kl_stride"] if name in METHODS[method].per_patch else 30
        patches = tf.constant(extract_patches(image, 128, stride)[0][..., None])
        compute = compiled_maps(model, method, (name,), 128, samples)  # the full path's too

        def bare():
            for s in range(0, len(patches), batch):
                np.asarray(compute(patches[s:s + batch])[0])

        def full():  # the one map, as `segment` computes it
            anomaly_maps(model, method, image, batch=batch, kl_stride=profile["kl_stride"],
                         rp_samples=samples, maps=(name,))

        a = _timed(full, repeats)
        b = _timed(bare, repeats)
        rows.append({"map": name, "path_s": a[0], "path_range": [a[1], a[2]], "bare_s": b[0],
                     "bare_range": [b[1], b[2]], "ratio": a[0] / b[0]})
        print(f"segment {name}: path {a[0]:.2f} s, bare {b[0]:.2f} s", file=sys.stderr)
    return rows


def protocol_image_cost(repeats, size=MVTEC_IMAGE_SIZE, profile_name="cpu", methods=None):
    """Seconds to compute every map of each method on one ``size`` x ``size`` image (a
    synthetic one: the cost does not depend on the content), exactly as ``evaluate`` does
    (evaluation.maps.maps_for at the profile's stride, KL stride and samples): one row
    per method, the median of ``repeats`` after a warm-up, with the range."""
    profile = profiles.get(profile_name)
    image = np.random.default_rng(2).random((1, size, size), dtype=np.float32)
    rows = []
    for method in default_methods() if methods is None else methods:
        model = build(method, profile)
        median, fastest, slowest = _timed(lambda: maps_for(model, method, image, profile), repeats)
        rows.append({"method": method, "size": size, "profile": profile_name,
                     "stride": profile["stride"], "seconds": median, "range": [fastest, slowest]})
        print(f"one {size} x {size} image, {method}: {median:.2f} s", file=sys.stderr)
    return rows


def category_cost(rows) -> dict:
    """From ``protocol_image_cost``'s rows: per MVTec AD texture category, the images one
    full evaluation maps (its test images and the 10 % of its training images held out for
    the threshold) and the seconds all the measured methods take on them, per training seed."""
    per_image = sum(row["seconds"] for row in rows)
    out = {}
    for category, (train, test) in published.MVTEC_IMAGES.items():
        images = test + max(1, round(0.1 * train))
        out[category] = {"images": images, "seconds": images * per_image}
    return out


def forward_macs(model) -> int:
    """Multiply-adds of one forward pass, counted layer by layer from the built model."""
    macs = 0
    for layer in model.encoder.layers + model.decoder.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            h, w, c_in = layer.input.shape[1:]
            macs += h * w * c_in * np.prod(layer.kernel_size) * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            h, w, c_out = layer.output.shape[1:]
            macs += h * w * c_out * np.prod(layer.kernel_size) * layer.input.shape[-1]
    return int(macs)


def nominal_peak_gflops():
    """cores x clock x FLOP per cycle (2 FMA pipes x vector width x 2), from /proc/cpuinfo."""
    flags, mhz = cpu_field("flags"), float(cpu_field("cpu MHz") or 0)
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * 2 if "fma" in flags else lanes * 2
    how = (f"{os.cpu_count()} cores x {mhz / 1000:.2f} GHz (cpu MHz in /proc/cpuinfo) x "
           f"{per_cycle} float32 FLOP/cycle ({'AVX-512' if lanes == 16 else 'AVX2'}"
           f"{' FMA' if 'fma' in flags else ''}, 2 pipes)")
    return os.cpu_count() * mhz / 1000 * per_cycle, how


def peak_memory_mb(stage):
    """Peak RSS of a child process that trains (or segments) at the cpu profile's sizes."""
    code = f"from reproduce.experiments.bench import _{stage}_once; _{stage}_once()"
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork + exec, so a
    # child would report the (larger) benchmark process's peak instead of its own
    code += ("; print(next(l.split()[1] for l in open('/proc/self/status') "
             "if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), check=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def _train_once():
    model = build(SSIM, profiles.get("cpu"))
    images = np.random.default_rng(0).random((40, 512, 512), dtype=np.float32)
    ds = with_targets(SSIM, patch_dataset(images, 128, 32))
    model.fit(ds, epochs=1, steps_per_epoch=8, verbose=0, shuffle=False)


def _evaluate_once():
    """Every map of every method on 20 images: one group of patches of anomaly_maps."""
    profile = profiles.get("cpu")
    images = np.random.default_rng(0).random((20, 512, 512), dtype=np.float32)
    for method in default_methods():
        maps_for(build(method, profile), method, images, profile)


def smoke_wall_s():
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time()
        subprocess.run([str(REPO / "run_all.sh"), "--profile", "smoke", "--out", f"{tmp}/out"],
                       cwd=REPO, env=dict(os.environ, SSIM_AE_CACHE=f"{tmp}/cache"), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.time() - t


def host():
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1 (default)")
    return {**provenance()["host"], "tensorflow": tf.__version__, "keras": keras.__version__,
            "onednn": onednn, "xla_jit": bool(tf.config.optimizer.get_jit()),
            "threads": {"intra_op": tf.config.threading.get_intra_op_parallelism_threads() or "auto",
                        "inter_op": tf.config.threading.get_inter_op_parallelism_threads() or "auto"}}


def default_run_wall_s(path: Path):
    """Wall time of a complete default reproduction recorded in run.json, else None
    (a run that reused evaluations or ran only some experiments does not count)."""
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    complete = ("evaluate" in record.get("stages", []) and not record.get("reused_evaluations")
                and record.get("profile", {}).get("name") == profiles.DEFAULT)
    return record.get("wall_seconds") if complete else None


def run(ctx) -> list[Path]:
    """The benchmark as an experiment (``all --only bench``): the command's defaults."""
    measure(ctx.out)
    return [ctx.out / "benchmark.md", ctx.out / "benchmark.json"]


def measure(out: Path, repeats: int = 3, smoke: bool = True) -> dict:
    """Every measurement, written to ``out`` (``python -m reproduce bench``); returns them."""
    repeats = max(3, repeats)
    origin = provenance()  # the code measured: commit, packages, host
    result = {"train": train_throughput(repeats), "sampler": sampler_throughput(repeats),
              "segment": segment_cost(repeats), "mvtec": protocol_image_cost(repeats)}
    macs = forward_macs(build(L2, profiles.get("cpu")))
    l2 = next(r for r in _float32(result["train"]) if r["method"] == L2)
    result["forward_gmacs_per_patch"] = macs / 1e9
    result["gflops"] = l2["bare_patches_per_s"] * 3 * 2 * macs / 1e9
    result["peak_gflops"], result["peak_how"] = nominal_peak_gflops()
    result["peak_rss_mb"] = {s: peak_memory_mb(s) for s in ("train", "evaluate")}
    result["smoke_wall_s"] = smoke_wall_s() if smoke else None
    result["default_wall_s"] = default_run_wall_s(REPO / "results" / "run.json")
    result["host"] = host()
    result["host"]["native_bf16"], result["host"]["bf16_how"] = native_bf16()
    result["git_commit"], result["packages"] = origin["git_commit"], origin["packages"]
    atomic_write_text(out / "benchmark.json", json.dumps(result, indent=2, default=str))
    atomic_write_text(out / "benchmark.md", markdown(result))
    return result


def _float32(rows):
    return [row for row in rows if row.get("precision", "float32") == "float32"]


def _ok(passed):
    return "met" if passed else "**missed**"


def markdown(r) -> str:
    lines = ["# Benchmark", "", f"Written by `python -m reproduce bench`; medians of >= 3 "
             "repetitions after a warm-up, range in brackets. Host: "
             f"{r['host']['cpu']}, {r['host']['cores']} cores, TensorFlow {r['host']['tensorflow']}, "
             f"Keras {r['host']['keras']}, oneDNN {r['host']['onednn']}, XLA "
             f"{'on' if r['host']['xla_jit'] else 'off'}. Commit: "
             f"{r.get('git_commit', 'not recorded')}.", ""]
    lines += _training_markdown(r)
    lines += ["",
              "## Segmentation of one 512 x 512 image, stride 30", "",
              "| map | full path, s | bare map function, s | ratio | target <= 1.5 (l2, ssim) |",
              "|---|---|---|---|---|"]
    for row in r["segment"]:
        target = _ok(row["ratio"] <= TARGETS["segment_overhead"]) if row["map"] in ("l2", "ssim") else "n/a"
        lines.append(f"| {row['map']} | {row['path_s']:.2f} [{row['path_range'][0]:.2f}-"
                     f"{row['path_range'][1]:.2f}] | {row['bare_s']:.2f} [{row['bare_range'][0]:.2f}-"
                     f"{row['bare_range'][1]:.2f}] | {row['ratio']:.2f} | {target} |")
    lines += _mvtec_markdown(r.get("mvtec"))
    lines += ["", "## Arithmetic", "",
              f"One forward pass of the Table-1 network: {r['forward_gmacs_per_patch']:.3f} GMAC "
              f"per patch (counted layer by layer). Training at the bare l2 rate achieves "
              f"{r['gflops']:.1f} GFLOP/s (3 x forward, 2 FLOP per MAC) of a nominal peak of "
              f"{r['peak_gflops']:.0f} GFLOP/s ({r['peak_how']}): "
              f"{100 * r['gflops'] / r['peak_gflops']:.0f} %.", "",
              "## Whole runs and memory", "",
              "- `./run_all.sh --profile smoke` (fresh cache): "
              + (f"{r['smoke_wall_s']:.0f} s" if r["smoke_wall_s"] else "not measured (--no-smoke)"),
              "- default profile, as recorded in results/run.json: "
              + (f"{r['default_wall_s'] / 60:.1f} min" if r["default_wall_s"] else
                 "no complete default run recorded in results/run.json"),
              f"- peak resident memory: training {r['peak_rss_mb']['train']:.0f} MB, "
              f"evaluation {r['peak_rss_mb']['evaluate']:.0f} MB", ""]
    return "\n".join(lines)


def _training_markdown(r) -> list[str]:
    by = {row["method"]: row for row in _float32(r["train"])}
    ssim_cost = by[L2]["path_patches_per_s"] / by[SSIM]["path_patches_per_s"]
    lines = ["## Training throughput (128 x 128 patches, batch 128)", "",
             "| method | precision | real path (sampler + fit), patches/s | bare step, patches/s | a/b | target a/b >= 0.9 |",
             "|---|---|---|---|---|---|"]
    for row in r["train"]:
        lines.append(f"| {row['method']} | {row.get('precision', 'float32')} | "
                     f"{row['path_patches_per_s']:.1f} "
                     f"[{row['path_range'][0]:.1f}-{row['path_range'][1]:.1f}] | "
                     f"{row['bare_patches_per_s']:.1f} [{row['bare_range'][0]:.1f}-"
                     f"{row['bare_range'][1]:.1f}] | {row['ratio']:.2f} | "
                     f"{_ok(row['ratio'] >= TARGETS['train_ratio'])} |")
    bf16 = {row["method"]: row for row in r["train"] if row.get("precision") == "bf16"}
    if bf16:
        gains = ", ".join(f"{m} {bf16[m]['path_patches_per_s'] / by[m]['path_patches_per_s']:.2f}x"
                          for m in by if m in bf16)
        native = r["host"].get("native_bf16")
        lines += ["", f"bf16 (mixed_bfloat16) against float32 on the real path: {gains}; this "
                  f"machine computes bf16 {'natively' if native else 'by emulation'} "
                  f"({r['host'].get('bf16_how', 'not recorded')})."]
    if f"{SSIM}_fast" in by:
        fast = by[f"{SSIM}_fast"]["path_patches_per_s"] / by[SSIM]["path_patches_per_s"]
        lines += ["", "The SSIM-AE trains with `1 - tf.image.ssim` (the default) or with the "
                  f"equal separable loss (`{SSIM}_fast`, profile key `ssim_loss: fast`): the "
                  f"latter is {fast:.2f}x as fast in float32."]
    lines += ["", f"SSIM-AE costs {ssim_cost:.2f}x the l2-AE per patch (target <= 1.5: "
              f"{_ok(ssim_cost <= TARGETS['ssim_vs_l2'])}).", "",
              "The sampler alone (no model; batch 128 from 512 x 512 images), for the two "
              "augmentations (`--rotation`):", "",
              "| rotation | patches/s |", "|---|---|"]
    for row in r["sampler"]:
        lines.append(f"| {row['rotation']} | {row['patches_per_s']:.0f} "
                     f"[{row['range'][0]:.0f}-{row['range'][1]:.0f}] |")
    return lines


def _mvtec_markdown(rows) -> list[str]:
    """What an MVTec AD texture category costs at the protocol's size ([] if not measured)."""
    if not rows:
        return []
    size, profile, stride = rows[0]["size"], rows[0]["profile"], rows[0]["stride"]
    lines = ["", f"## One MVTec AD image at the protocol's {size} x {size} (profile {profile}, "
             f"stride {stride})", "",
             "Every map of each method on one synthetic image, as `evaluate` computes them "
             "(evaluation/maps.py `maps_for`); `mvtec:PATH` zooms the 1024 x 1024 "
             "images of the texture categories to this size (textures/folders.py).", "",
             "| method | maps | seconds per image |", "|---|---|---|"]
    for row in rows:
        method = METHODS.get(row["method"])
        names = [n for n in method.maps if n != "recon"] if method else []
        names.sort(key=lambda n: n not in own_maps(row["method"]))  # its own maps first
        lines.append(f"| {row['method']} | {', '.join(names)} | {row['seconds']:.2f} "
                     f"[{row['range'][0]:.2f}-{row['range'][1]:.2f}] |")
    methods = ", ".join(row["method"] for row in rows)
    lines += ["", f"So the maps of a category's full test set ({methods}), plus the 10 % of its "
              "training images held out for the threshold, per training seed, at these "
              "settings (training and the reference detectors not included). Every profile "
              "maps all of them; `paper`'s VAE maps denser (KL stride 8, 10 samples: several "
              "times the VAE row):", "",
              "| category | images mapped | minutes on this CPU |", "|---|---|---|"]
    for category, cost in category_cost(rows).items():
        lines.append(f"| {category} | {cost['images']} | {cost['seconds'] / 60:.1f} |")
    return lines
