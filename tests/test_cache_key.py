"""The model cache's key sees every edit that changes a trained model, and no other."""
import dataclasses
import shutil

import methods
from reproduce import profiles
from reproduce.train import MODEL_CODE, REPO, code_version, model_key


def test_key_changes_with_model_code_and_not_with_figures(tmp_path):
    for entry in MODEL_CODE + ("reproduce/experiments/fig_roc.py", "evaluation"):
        src = REPO / entry
        if src.is_dir():
            shutil.copytree(src, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / entry)
    assert code_version(tmp_path) == code_version(REPO)
    seen = {code_version(tmp_path)}
    edits = ["models/autoencoder.py", "losses/ssim.py", "textures/patches.py", "reproduce/train.py"]
    for rel in edits:  # each edit of the code that trains a model gives a new key
        with open(tmp_path / rel, "a") as f:
            f.write("\n# an edit\n")
        key = code_version(tmp_path)
        assert key not in seen, rel
        seen.add(key)
    nested = tmp_path / "models" / "blocks" / "extra.py"  # a new sub-module counts too
    nested.parent.mkdir()
    nested.write_text("X = 1\n")
    assert code_version(tmp_path) not in seen
    seen.add(code_version(tmp_path))
    before = code_version(tmp_path)
    for rel in ("reproduce/experiments/fig_roc.py", "evaluation/metrics.py"):  # not part of a model
        with open(tmp_path / rel, "a") as f:
            f.write("\n# an edit\n")
    assert code_version(tmp_path) == before


def test_key_changes_with_the_methods_builder_and_loss_and_not_with_labels(monkeypatch):
    """methods.py is not hashed: a method's MODEL_FIELDS enter the key by value."""
    profile = profiles.get("smoke")
    key = lambda: model_key("fabric1", 0, "ssim_ae", profile)  # noqa: E731
    seen = {key()}
    entry = methods.METHODS["ssim_ae"]
    for change in ({"label": "SSIM autoencoder"}, {"maps": ("ssim",)}, {"recon_label": "x"}):
        monkeypatch.setitem(methods.METHODS, "ssim_ae", dataclasses.replace(entry, **change))
        assert key() in seen, change  # what tables and figures show: the same model
    for change in ({"builder": "models.vae.build_vae"}, {"loss": "losses.l2.l2_loss"},
                   {"fast_loss": "losses.ssim.ssim_loss"}):
        monkeypatch.setitem(methods.METHODS, "ssim_ae", dataclasses.replace(entry, **change))
        assert key() not in seen, change
        seen.add(key())
    assert set(methods.MODEL_FIELDS) == {"builder", "loss", "fast_loss"}
