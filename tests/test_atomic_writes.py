"""Every result file is written atomically: into an in-memory buffer or under a temporary
name that is then renamed (files.py, reproduce/plotting.py), never straight to its final
name, which a killed run could leave truncated.

Checked on the syntax tree of the project's code: every call that writes a file (``open``
for writing, ``write_text``/``write_bytes``, ``save``/``savefig``/``savez``/``to_csv``
with a target, ``shutil.copy*``) must write into a target whose root name, in the same
function, is an ``io.BytesIO``/``StringIO`` buffer or a path the function hands to
``os.replace``/``os.rename`` (names derived from it by ``/`` count too). A function that
writes into one of its own parameters is a helper: then every call of it must pass such
a target.
"""
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WRITERS = {"savefig", "write_text", "write_bytes", "save", "savez", "savez_compressed",
           "to_csv", "to_json", "copy", "copyfile", "copy2", "copytree"}


def _root(node):
    """The name an expression is built on: ``tmp`` for ``tmp / "a" / f"{b}"``."""
    while not isinstance(node, ast.Name):
        if isinstance(node, ast.BinOp):
            node = node.left
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Call) and node.args:  # Path(tmp), str(tmp)
            node = node.args[0]
        else:
            return None
    return node.id


def _target(call):
    """The file a call writes to (an expression), or None if it writes no file."""
    f = call.func
    if isinstance(f, ast.Name) and f.id == "open":
        mode = call.args[1] if len(call.args) > 1 else next(
            (k.value for k in call.keywords if k.arg == "mode"), None)
        writes = isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax")
        return call.args[0] if writes else None
    if not isinstance(f, ast.Attribute) or f.attr not in WRITERS:
        return None
    if f.attr in ("write_text", "write_bytes"):
        return f.value
    if f.attr.startswith("copy"):
        return call.args[1] if len(call.args) > 1 else None
    return call.args[0] if call.args else None  # to_csv() without a path returns text


def _safe_roots(function):
    """Buffers, renamed paths and the names derived from them, in one function."""
    nodes = list(ast.walk(function))
    safe = {_root(n.args[0]) for n in nodes if isinstance(n, ast.Call) and n.args
            and isinstance(n.func, ast.Attribute) and n.func.attr in ("replace", "rename")
            and _root(n.func) == "os"}
    assigns = [n for n in nodes if isinstance(n, ast.Assign) and len(n.targets) == 1
               and isinstance(n.targets[0], ast.Name)]
    safe |= {a.targets[0].id for a in assigns if isinstance(a.value, ast.Call)
             and isinstance(a.value.func, ast.Attribute) and a.value.func.attr in ("BytesIO", "StringIO")}
    while True:
        more = {a.targets[0].id for a in assigns if _root(a.value) in safe} - safe
        if not more:
            return safe
        safe |= more


def _check(sources: dict) -> tuple[list, int]:
    """(unsafe writes, number of writes seen) over {name: source}."""
    bad, seen, helpers, calls = [], 0, {}, []
    for name, source in sources.items():
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            safe = _safe_roots(function)
            params = [a.arg for a in function.args.args]
            for node in ast.walk(function):
                if not isinstance(node, ast.Call):
                    continue
                calls.append((name, node, safe))
                target = _target(node)
                if target is None:
                    continue
                seen += 1
                root = _root(target)
                if root in params and root not in safe:
                    helpers[function.name] = (params.index(root), root, f"{name}:{node.lineno}")
                elif root not in safe:
                    bad.append(f"{name}:{node.lineno}: {ast.unparse(node)[:90]}")
    called = set()
    for name, node, safe in calls:  # each call of a helper passes a safe target
        function = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if function in helpers:
            called.add(function)
            index, param, _ = helpers[function]
            given = [k.value for k in node.keywords if k.arg == param] or node.args[index:index + 1]
            if not given or _root(given[0]) not in safe:
                bad.append(f"{name}:{node.lineno}: {ast.unparse(node)[:90]} (writes into {param})")
    bad += [f"{where}: writes into its parameter, and no call of it was found"
            for function, (_, _, where) in helpers.items() if function not in called]
    return bad, seen


def test_result_files_are_written_atomically():
    files = sorted({*REPO.glob("*.py"), *REPO.glob("reproduce/**/*.py"), *REPO.glob("evaluation/*.py"),
                    *REPO.glob("textures/*.py"), *REPO.glob("models/*.py"), *REPO.glob("losses/*.py")})
    bad, seen = _check({str(f.relative_to(REPO)): f.read_text() for f in files})
    assert not bad, "direct writes:\n" + "\n".join(bad)
    assert seen >= 8  # the figures, the npz files, the dataset export, the model: all seen


def test_the_check_finds_a_direct_write():
    bad, seen = _check({"bad.py": (
        "import io, os\n"
        "def good(out):\n    b = io.BytesIO()\n    fig.savefig(b)\n    tmp = out / 'x.tmp'\n"
        "    tmp.write_text('a')\n    os.replace(tmp, out / 'x')\n    helper(1, tmp)\n"
        "def direct(out):\n    (out / 'x.csv').write_text('a')\n"
        "def helper(a, path):\n    np.save(path, a)\n"
        "def careless(out):\n    helper(1, out / 'y.npy')\n")})
    assert seen == 4
    assert sorted(line.split(":")[1] for line in bad) == ["10", "14"], bad
