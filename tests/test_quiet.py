"""TensorFlow's start-up lines (reproduce/quiet.py): hidden at the command line's default
level, shown where the user set a lower one, replayed where the import fails. The command
line itself, with no level set, is checked in tests/test_robustness.py."""
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPORT = "from reproduce.quiet import import_tensorflow; import_tensorflow(); print('imported')"
TF_LINE = re.compile(r"^[IWE]\d{4} |absl::InitializeLog", re.MULTILINE)


def _python(code, level, path=()):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=level,
               PYTHONPATH=os.pathsep.join([*map(str, path), str(REPO)]))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_level_the_user_set_below_3_hides_nothing():
    proc = _python(IMPORT, "0")
    assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr[-2000:]
    assert TF_LINE.search(proc.stderr), proc.stderr[-2000:]  # TensorFlow 2.21 says these


def test_a_failed_import_shows_what_it_printed(tmp_path):
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.write(2, b'E0000 why it failed\\n')\n"
                                      "raise ImportError('broken install')\n")
    for level in ("3", "0"):
        proc = _python(IMPORT, level, path=[tmp_path])
        assert proc.returncode == 1 and "imported" not in proc.stdout
        assert "E0000 why it failed" in proc.stderr and "broken install" in proc.stderr
        assert proc.stderr.index("E0000") < proc.stderr.index("Traceback")


def test_at_level_3_nothing_of_the_import_shows(tmp_path):
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os, sys\nos.write(2, b'I0000 start-up\\n')\n"
                                      "print('from Python', file=sys.stderr)\n")
    proc = _python(IMPORT + "; import sys; print('after', file=sys.stderr)", "3", path=[tmp_path])
    assert proc.returncode == 0 and proc.stderr == "after\n", proc.stderr
