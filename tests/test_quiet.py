"""TensorFlow's start-up lines (reproduce/quiet.py): hidden at the command line's default
level, shown where the user set a lower one, replayed where the import fails. The command
line itself, with no level set, is checked in tests/test_robustness.py."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMPORT = "from reproduce.quiet import import_tensorflow; import_tensorflow(); print('imported')"


def _python(code, level, path=()):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=level,
               PYTHONPATH=os.pathsep.join([*map(str, path), str(REPO)]))
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def _fake_tensorflow(tmp_path, body):
    """A package named tensorflow whose import runs ``body``: what the real one prints
    while it loads is TensorFlow's to change, so the tests stage it themselves."""
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(body)
    return [tmp_path]


def test_a_level_the_user_set_below_3_hides_nothing(tmp_path):
    path = _fake_tensorflow(tmp_path, "import os\nos.write(2, b'I0000 start-up\\n')\n")
    for level in ("0", "2"):
        proc = _python(IMPORT, level, path=path)
        assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr[-2000:]
        assert proc.stderr == "I0000 start-up\n", proc.stderr[-2000:]


def test_a_failed_import_shows_what_it_printed(tmp_path):
    path = _fake_tensorflow(tmp_path, "import os\nos.write(2, b'E0000 why it failed\\n')\n"
                                      "raise ImportError('broken install')\n")
    for level in ("3", "0"):
        proc = _python(IMPORT, level, path=path)
        assert proc.returncode == 1 and "imported" not in proc.stdout
        assert "E0000 why it failed" in proc.stderr and "broken install" in proc.stderr
        assert proc.stderr.index("E0000") < proc.stderr.index("Traceback")


def test_at_level_3_nothing_of_the_import_shows(tmp_path):
    path = _fake_tensorflow(tmp_path, "import os, sys\nos.write(2, b'I0000 start-up\\n')\n"
                                      "print('from Python', file=sys.stderr)\n")
    proc = _python(IMPORT + "; import sys; print('after', file=sys.stderr)", "3", path=path)
    assert proc.returncode == 0 and proc.stderr == "after\n", proc.stderr
