"""The ``paper`` profile (reproduce/profiles.py) is the training recipe its source states:
docs/PAPER_NOTES.md, "Training settings" (the paper, [MVTec AD] and the re-implementation
it cites), read from that table here."""
import re
from pathlib import Path

from reproduce import profiles

NOTES = Path(__file__).resolve().parent.parent / "docs" / "PAPER_NOTES.md"


def _settings():
    """{setting: value} of the table under '## Training settings'."""
    section = NOTES.read_text().split("## Training settings", 1)[1].split("\n## ", 1)[0]
    return {m[0].strip(): m[1].strip() for m in re.findall(r"^\| ([^|]+) \| ([^|]+) \|", section, re.MULTILINE)}


def test_the_paper_profile_is_the_documented_recipe():
    notes, paper = _settings(), profiles.get("paper")
    patches, size = re.match(r"([\d,]+) random (\d+) x \2 patches", notes["training data"]).groups()
    assert paper["patches_per_epoch"] == int(patches.replace(",", ""))
    assert paper["patch_size"] == int(size)
    assert paper["learning_rate"] == float(re.search(r"learning rate ([\d.e-]+)", notes["optimiser"])[1])
    assert paper["weight_decay"] == float(notes['"weight decay"'].split()[0])
    batch, epochs = re.match(r"(\d+), (\d+)", notes["batch, epochs"]).groups()
    assert (paper["batch_size"], paper["epochs"]) == (int(batch), int(epochs))
    assert paper["latent_dim"] == int(re.search(r"d = (\d+)", notes["latent size"])[1])
