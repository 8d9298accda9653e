"""The model cache's key sees every edit that changes a trained model, and no other."""
import dataclasses
import re
import shutil

import methods
from reproduce import profiles
from reproduce.cache import MODEL_CODE, code_version, model_key
from reproduce.provenance import REPO


def test_key_changes_with_model_code_and_not_with_figures(tmp_path):
    for entry in MODEL_CODE + ("reproduce/experiments/fig_roc.py", "evaluation"):
        src = REPO / entry
        if src.is_dir():
            shutil.copytree(src, tmp_path / entry, ignore=shutil.ignore_patterns("__pycache__"),
                            dirs_exist_ok=True)
        else:
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, tmp_path / entry)
    assert code_version(tmp_path) == code_version(REPO)
    seen = {code_version(tmp_path)}
    edits = ["models/autoencoder.py", "losses/ssim.py", "textures/patches.py", "training.py"]
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
                   {"fast_loss": "losses.ssim.ssim_loss"}, {"warm_up": "models.vae.KLWarmUp"},
                   {"clipnorm": 1.0}):
        monkeypatch.setitem(methods.METHODS, "ssim_ae", dataclasses.replace(entry, **change))
        assert key() not in seen, change
        seen.add(key())
    assert set(methods.MODEL_FIELDS) == {"builder", "loss", "fast_loss", "warm_up", "clipnorm"}


# The profile values that do not determine a trained model: how it is evaluated, which
# training seeds a run makes (each model's own seed is keyed apart), how many datasets run
# at once. Every other value of a profile is a training value and must be in the key.
NOT_TRAINING = {"stride", "kl_stride", "rp_samples", "min_defect_area", "max_test_good",
                "max_test_per_type", "max_val", "eval_batch", "seeds", "jobs"}


def _another(value):
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-other"
    return (value or ()) + (7,)  # a tuple, or None


def test_every_training_value_changes_the_key_and_no_other_value_does():
    """Each value of each profile changed one at a time, for every method."""
    assert set(profiles.TRAINING_KEYS) == set(profiles.PROFILES) - NOT_TRAINING
    for name in profiles.NAMES:
        profile = dict(profiles.get(name), precision="float32")  # "auto" is decided before
        for method in methods.METHODS:
            base = model_key("fabric1", 0, method, profile)
            for key in profiles.PROFILES:
                changed = model_key("fabric1", 0, method, dict(profile, **{key: _another(profile[key])}))
                assert (changed != base) == (key not in NOT_TRAINING), (name, method, key)


def test_every_profile_value_the_training_code_reads_is_a_training_value():
    """The code that trains (the hashed source and the cache around it) reads no profile
    value that the key leaves out."""
    files = [REPO / "reproduce" / "train.py", *[f for entry in MODEL_CODE for f in
             ([REPO / entry] if entry.endswith(".py") else (REPO / entry).rglob("*.py"))]]
    read = {key for f in files for key in re.findall(r"profile\[[\"'](\w+)[\"']\]", f.read_text())}
    assert {"epochs", "kl_warmup_epochs", "learning_rate"} <= read  # the scan sees them
    assert read <= set(profiles.TRAINING_KEYS), read - set(profiles.TRAINING_KEYS)

