"""Bad input through the real command line (issue #6): each case runs
``python -m reproduce ...`` in a subprocess on a small MVTec AD-style folder.

Every case ends with one line ``error: ...`` naming the file or value, exit status 2, no
traceback and no file in the output folder. Convertible images (RGB, RGBA, 16-bit,
palette) load with one ``note:`` per kind of conversion, said once.

Most cases go through ``datasets show SPEC --small --out FILE.png``: it reaches the
loader without importing TensorFlow (``reproduce/__main__.py`` imports it only in the
commands that train, after the cheap checks), so each process takes under a second. Two
cases go through ``evaluate``/``train --profile smoke`` to show that those commands fail
the same way before any training.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from textures import folders

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # every test runs the command line in a subprocess
SIZE = 128  # the patch size: the smallest image the loader accepts


def cli(*args, cache):
    env = dict(os.environ, SSIM_AE_CACHE=str(cache), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "reproduce", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stderr


def noise(seed, shape=(SIZE, SIZE)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path, array_or_image):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path)
    return path


def dataset(root):
    """train/good: 4 images; test/good and test/cut: one each; the cut's mask."""
    for i in range(4):
        save(root / "train" / "good" / f"{i:03d}.png", noise(i))
    save(root / "test" / "good" / "000.png", noise(10))
    save(root / "test" / "cut" / "000.png", noise(11))
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[20:40, 30:60] = 255
    save(root / "ground_truth" / "cut" / "000_mask.png", mask)
    return root


def png_bytes(array):
    import io
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def files_under(folder):
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file()) if Path(folder).exists() else []


def assert_one_error_line(rc, err, *needles):
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith("error: "), err[-3000:]
    assert sum(line.startswith("error") for line in lines) == 1, err[-3000:]
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])


# Each case: how to spoil a good dataset folder, and what the error line must name.
def _missing(root):
    return root.parent / "nowhere", ["nowhere", "no such folder"]


def _empty_train(root):
    for p in (root / "train" / "good").iterdir():
        p.unlink()
    return root, [str(root / "train" / "good"), "no images"]


def _zero_byte(root):
    (root / "train" / "good" / "zz.png").write_bytes(b"")
    return root, ["zz.png", "empty"]


def _truncated(root):
    data = png_bytes(noise(5))
    (root / "test" / "good" / "tr.png").write_bytes(data[:len(data) // 2])
    return root, ["tr.png", "truncated"]


def _not_an_image(root):
    (root / "train" / "good" / "notes.png").write_text("this is a text file, not a PNG\n")
    return root, ["notes.png", "not a readable image"]


def _mask_size(root):
    save(root / "ground_truth" / "cut" / "000_mask.png", np.zeros((SIZE // 2, SIZE), np.uint8))
    return root, ["000_mask.png", "64x128", str(root / "test" / "cut" / "000.png")]


def _mask_not_binary(root):
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[:10], mask[10:20] = 128, 255
    save(root / "ground_truth" / "cut" / "000_mask.png", mask)
    return root, ["000_mask.png", "not binary"]


def _smaller_than_patch(root):
    save(root / "train" / "good" / "zz.png", noise(6, (100, 200)))
    return root, ["zz.png", "100x200", "smaller than the 128x128 patch"]


def _nan(root):
    a = np.random.default_rng(7).random((SIZE, SIZE)).astype(np.float32)
    a[3, 3] = np.nan
    save(root / "train" / "good" / "zz.tif", Image.fromarray(a, mode="F"))
    return root, ["zz.tif", "NaN"]


def _constant(root):
    # a whole training set of constant images: the first one read stops the run
    for p in (root / "train" / "good").iterdir():
        save(p, np.full((SIZE, SIZE), 128, np.uint8))
    return root, [str(root / "train" / "good"), "constant"]


CASES = {f.__name__.lstrip("_"): f for f in (
    _missing, _empty_train, _zero_byte, _truncated, _not_an_image, _mask_size,
    _mask_not_binary, _smaller_than_patch, _nan, _constant)}


@pytest.mark.parametrize("case", CASES)
def test_bad_dataset_folder_is_one_error_line(case, tmp_path):
    root, needles = CASES[case](dataset(tmp_path / "ds"))
    out = tmp_path / "out"
    rc, err = cli("datasets", "show", f"folder:{root}", "--small", "--out", out / "montage.png",
                  cache=tmp_path / "cache")
    assert_one_error_line(rc, err, *needles)
    assert files_under(out) == []


def test_bad_dataset_through_evaluate_fails_before_training(tmp_path):
    root, needles = _truncated(dataset(tmp_path / "ds"))
    rc, err = cli("evaluate", "--dataset", f"mvtec:{root}", "--methods", "l2_ae", "--profile",
                  "smoke", "--out", tmp_path / "out", cache=tmp_path / "cache")
    assert_one_error_line(rc, err, *needles)
    assert files_under(tmp_path / "out") == [] and files_under(tmp_path / "cache") == []


def test_unknown_method_through_train(tmp_path):
    root = dataset(tmp_path / "ds")
    rc, err = cli("train", "--dataset", f"folder:{root}", "--method", "l3_ae", "--profile", "smoke",
                  "--out", tmp_path / "out", cache=tmp_path / "cache")
    assert_one_error_line(rc, err, "unknown method 'l3_ae'", "l2_ae, ssim_ae, vae")
    assert files_under(tmp_path / "out") == [] and files_under(tmp_path / "cache") == []


@pytest.mark.parametrize("args, needles", [
    (["datasets", "show", "nosuch:{tmp}/ds", "--out", "{tmp}/out/m.png"],
     ["unknown dataset 'nosuch:", "folder:PATH"]),
    (["datasets", "show", "folder:", "--out", "{tmp}/out/m.png"], ["names no folder"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--profile", "huge", "--out", "{tmp}/out"],
     ["unknown profile 'huge'", "paper, cpu, smoke"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--profile", "smoke", "--epochs", "0",
      "--out", "{tmp}/out"], ["--epochs", "0"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--profile", "smoke", "--seeds", "0,x",
      "--out", "{tmp}/out"], ["--seeds", "0,x", "distinct seeds"]),
    (["all", "--profile", "smoke", "--seeds", "1,1", "--out", "{tmp}/out"], ["--seeds", "1,1"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--profile", "smoke",
      "--out", "/proc/forbidden/out"], ["/proc/forbidden/out"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--profile", "smoke"], ["--out"]),  # argparse
    (["precision", "--profile", "huge", "--out", "{tmp}/out"], ["unknown profile 'huge'"]),
    (["bf16-check", "--datasets", " , ", "--out", "{tmp}/out"], ["--datasets names no dataset"]),
    (["evaluate", "--dataset", "folder:{tmp}/ds", "--precision", "fp8", "--out", "{tmp}/out"],
     ["--precision", "fp8", "auto"]),
])
def test_unknown_value_is_one_error_line(args, needles, tmp_path):
    dataset(tmp_path / "ds")
    rc, err = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args], cache=tmp_path / "cache")
    assert_one_error_line(rc, err, *needles)
    assert files_under(tmp_path / "out") == [] and files_under(tmp_path / "cache") == []


def test_output_folder_not_writable(tmp_path):
    """An output folder below a regular file cannot be created, not even by root (the
    tests run as root in CI, where a read-only folder would not stop anything)."""
    root = dataset(tmp_path / "ds")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    for out in (blocker / "out", blocker / "out" / "sub"):
        rc, err = cli("evaluate", "--dataset", f"folder:{root}", "--profile", "smoke",
                      "--out", out, cache=tmp_path / "cache")
        assert_one_error_line(rc, err, str(out), "--out")
    rc, err = cli("datasets", "show", f"folder:{root}", "--out", blocker / "m.png",
                  cache=tmp_path / "cache")
    assert_one_error_line(rc, err, str(blocker))
    assert blocker.read_text() == "a file, not a folder\n"
    assert files_under(tmp_path / "cache") == []
    if os.geteuid() != 0:  # a folder without write permission: only stops a normal user
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            rc, err = cli("evaluate", "--dataset", f"folder:{root}", "--profile", "smoke",
                          "--out", locked, cache=tmp_path / "cache")
            assert_one_error_line(rc, err, str(locked), "--out")
            assert files_under(locked) == []
        finally:
            locked.chmod(0o700)


def test_convertible_images_load_with_one_note_per_kind(tmp_path):
    rgb = lambda seed: np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)  # noqa: E731
    root = tmp_path / "ds"
    good = root / "train" / "good"
    files = {  # name: (image as written, the grayscale the loader must return)
        "rgb0.png": rgb(0), "rgb1.png": rgb(1),
        "rgba0.png": np.dstack([rgb(2), noise(3)]), "rgba1.png": np.dstack([rgb(4), noise(5)]),
        "w16_0.png": (np.random.default_rng(6).random((SIZE, SIZE)) * 65535).astype(np.uint16),
        "w16_1.png": (np.random.default_rng(7).random((SIZE, SIZE)) * 65535).astype(np.uint16),
    }
    for name, a in files.items():
        save(good / name, a)
    for i in range(2):
        save(good / f"pal{i}.png", Image.fromarray(rgb(8 + i)).convert("P", palette=Image.ADAPTIVE))
    save(root / "test" / "good" / "000.png", rgb(20))
    save(root / "test" / "cut" / "000.png", Image.fromarray(rgb(21)).convert("P"))
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[5:25, 5:25] = 255
    save(root / "ground_truth" / "cut" / "000_mask.png", mask)

    out = tmp_path / "out" / "montage.png"
    rc, err = cli("datasets", "show", f"folder:{root}", "--out", out, cache=tmp_path / "cache")
    assert rc == 0 and "Traceback" not in err and "error" not in err, err[-3000:]
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    for kind in ("colour images", "alpha channel", "16-bit images", "palette images"):
        assert sum(kind in line for line in notes) == 1, (kind, notes)
    assert len(notes) == 4, notes
    assert out.stat().st_size > 10_000

    # and converted to the right grey values
    luminance = lambda a: a[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114] / 255  # noqa: E731
    for name, a in files.items():
        expected = a / 65535 if a.dtype == np.uint16 else luminance(a)
        np.testing.assert_allclose(folders.read_image(good / name), expected, atol=1e-6)
    pal = Image.open(good / "pal0.png")
    np.testing.assert_allclose(folders.read_image(good / "pal0.png"),
                               luminance(np.asarray(pal.convert("RGB"))), atol=1e-6)
