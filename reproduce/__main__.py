"""Command line: ``python -m reproduce COMMAND ...`` (see ``--help``).

  all        every experiment of the paper into a results folder (what run_all.sh calls)
  train      train one model (through the cache) and copy it to a folder
  evaluate   train what is missing, then anomaly maps and metrics of one dataset
  segment    apply a trained model to unlabelled images: heat maps and binary masks
  datasets   export a dataset in the MVTec AD layout, draw a montage of it, or measure
             its defects (stats)
  bench      the benchmark: training and segmentation cost, written to results/
  bf16-check the default run against its companion in the other precision (bf16 / float32);
             called `precision` before (the old name still works)
  verify     recompute a results folder's numbers independently; exit 1 on any mismatch

Expected bad input ends with one line ``error: ...`` and exit status 2. Ctrl-C (SIGINT)
and SIGTERM stop cleanly with one ``error: interrupted ...`` line (status 130 / 143);
the same command run again resumes an interrupted training from its last finished epoch.

TensorFlow is imported only by the commands that need it, after the cheap checks
(profile, method, experiment names, output folder), so ``datasets`` and most bad input
answer within a second; its C++ log is quiet unless TF_CPP_MIN_LOG_LEVEL is set
(reproduce/quiet.py).
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from pathlib import Path

from errors import InputError, TrainingError
from files import atomic_write_bytes
from reproduce import experiment_options
from reproduce.quiet import import_tensorflow

# TensorFlow's C++ log, unless the user chose a level: 3 keeps only FATAL. Level 2 would
# still print a grappler "remapper failed" ERROR line during training that is only noise
# (the graph runs unoptimised by that pass); Python exceptions surface whatever the level.
# Level 3 also hides TensorFlow's start-up lines (reproduce/quiet.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _profile(args):
    from reproduce import profiles
    profile = profiles.get(args.profile)
    if getattr(args, "precision", None):
        profile["precision"] = args.precision
    if getattr(args, "rotation", None):
        profile["rotation"] = args.rotation
    if getattr(args, "epochs", None) is not None:  # --epochs 0 is an error, not "unset"
        if args.epochs < 1:
            raise InputError(f"--epochs must be at least 1, not {args.epochs}")
        profile["epochs"] = args.epochs
    if getattr(args, "seeds", None) is not None:
        try:
            seeds = tuple(int(v) for v in args.seeds.split(","))
        except ValueError:
            seeds = ()
        if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
            raise InputError(f"--seeds {args.seeds!r}: give distinct seeds >= 0, e.g. 0,1,2")
        profile["seeds"] = seeds
    return profile


IMAGE_SIZE_HELP = ("resize every image of the folder dataset(s) to N x N, masks "
                   "nearest-neighbour (default: 512 for mvtec:, the MVTec AD protocol; the "
                   "files' size for folder:); recorded in run.json")


def _apply_image_size(args) -> None:
    """``--image-size N``: every dataset spec of the command gets the suffix ``@N``, so
    that the size reaches every loader and names the dataset (textures/__init__.py)."""
    size = getattr(args, "image_size", None)
    if size is None:
        return
    import textures
    for name in ("dataset", "spec"):
        if getattr(args, name, None):
            setattr(args, name, textures.with_image_size(getattr(args, name), size))
    if hasattr(args, "datasets"):
        if not args.datasets:
            raise InputError("--image-size needs --datasets naming folder datasets "
                             "(the default run's datasets are built-in)")
        args.datasets = ",".join(textures.with_image_size(spec, size)
                                 for spec in args.datasets.split(",") if spec.strip())


FM_WEIGHTS_HELP = ("the FM-AE's comparator: VGG19's ImageNet weights without the classifier "
                   "(vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5) or a comparator saved "
                   "as .keras (default: Keras' cache, ~/.keras/models; nothing is downloaded)")


def _apply_fm_weights(args) -> None:
    """``--fm-weights PATH``: where the FM-AE finds its comparator's weights, handed on
    as the variable losses/comparator_weights.py reads (in this process and its workers)."""
    from losses.comparator_weights import WEIGHTS_ENV
    path = getattr(args, "fm_weights", None)
    if path is None:
        return
    if not Path(path).is_file():
        raise InputError(f"--fm-weights {path}: no such file; give VGG19's notop weights (.h5) "
                         "or a comparator saved as .keras")
    os.environ[WEIGHTS_ENV] = str(Path(path).resolve())


def writable_dir(path: str) -> Path:
    """An output folder that exists (created if needed) and can be written."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create output folder {path}: {e.strerror}; choose another --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"output folder {path} is not writable; choose another --out")
    return folder


def cmd_all(args):
    from reproduce import runner
    options = experiment_options.collect(args, args.only)  # bad values: before TensorFlow
    profile, out = _profile(args), writable_dir(args.out)
    # runner.run checks --only before it imports TensorFlow
    return runner.run(profile, out, only=args.only, datasets=args.datasets,
                      reuse_evaluations=args.reuse_evaluations, options=options)


def cmd_verify(args):
    """Status 1 (after writing the report) where any recomputed number disagrees."""
    from reproduce.experiments import verify
    root = Path(args.dir)
    target = Path(args.report) if args.report else root / "verify.md"
    report = verify.verify(root)  # bad input: InputError before anything is written
    writable_dir(str(target.parent))
    verify.write(report, target)
    print(f"{report.summary()}; wrote {target}")
    return 1 if report.mismatches else 0


def cmd_bench(args):
    out = writable_dir(args.out)
    import_tensorflow()
    from reproduce.experiments import bench
    bench.measure(out, repeats=args.repeats, smoke=not args.no_smoke)
    print(f"wrote {Path(args.out) / 'benchmark.md'}")


def cmd_bf16_check(args):
    import textures
    from reproduce import profiles
    if args.profile:
        profiles.get(args.profile)  # unknown: the usual error, before TensorFlow loads
    specs = [spec.strip() for spec in (args.datasets or ",".join(textures.DEFAULT_RUN)).split(",")
             if spec.strip()]
    if not specs:
        raise InputError("--datasets names no dataset")
    out = writable_dir(args.out)
    import_tensorflow()
    from reproduce import bf16_check
    result = bf16_check.run(out, specs, args.profile, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"wrote {out / 'bf16_check.md'}: bf16 {'within' if result['safe'] else 'NOT within'} noise")


def cmd_train(args):
    from methods import check_method, runnable
    profile, method = _profile(args), check_method(args.method)
    runnable([method], named=True)  # the FM-AE without its weights: one line, before TensorFlow
    out = writable_dir(args.out)
    import textures
    import_tensorflow()
    from reproduce import train
    profile = train.resolve_precision(profile)  # once for the run
    ds = textures.load(args.dataset, seed=profile["seeds"][0], small=profile["small_data"])
    folder = train.train(ds, method, profile, seed=profile["seeds"][0])
    (out / "run.json").unlink(missing_ok=True)  # an older model's: not complete any more
    for name in ("model.keras", "log.csv", "run.json"):  # run.json last: marks it complete
        atomic_write_bytes(out / name, (folder / name).read_bytes())
    print(f"trained {args.method} on {args.dataset}: {out / 'model.keras'}")


def cmd_evaluate(args):
    from methods import METHODS, check_method, default_methods, runnable
    named = args.methods is not None
    methods = ([check_method(m.strip()) for m in args.methods.split(",") if m.strip()] if named
               else default_methods())
    if not methods:
        raise InputError(f"--methods {args.methods!r} names no method: give some of "
                         f"{','.join(METHODS)}")
    methods = runnable(methods, named, log=lambda m: print(m, file=sys.stderr))
    profile, out = _profile(args), writable_dir(args.out)
    import_tensorflow()
    from reproduce.evaluate import evaluate
    from reproduce.train import resolve_precision
    table = evaluate(args.dataset, methods, resolve_precision(profile), out,
                     log=lambda m: print(m, file=sys.stderr, flush=True))
    print(table[["dataset", "method", "map", "pixel_auroc", "aupro_30", "image_auroc"]]
          .to_string(index=False, float_format="%.3f"))


def cmd_segment(args):
    import_tensorflow()
    from reproduce.segment import segment
    segment(Path(args.model), args.images, writable_dir(args.out))


def cmd_datasets(args):
    import textures
    if args.action == "stats":
        from reproduce import dataset_stats
        out = Path(args.out)
        writable_dir(str(out.parent))
        if out.is_dir():
            raise InputError(f"--out {out} is a folder; give the name of the Markdown file")
        for path in dataset_stats.write(args.specs, out, seed=args.seed, small=args.small):
            print(f"wrote {path}")
        return
    target = Path(args.dir if args.action == "export" else args.out)
    writable_dir(str(target.parent))
    if args.action == "show" and target.is_dir():
        raise InputError(f"--out {target} is a folder; give the name of the PNG to write")
    ds = textures.load(args.spec, seed=args.seed, small=args.small)
    if args.action == "export":
        from textures.folders import export
        print(f"wrote {export(ds, target)}")
    else:
        from textures.montage import show  # matplotlib: only once the dataset has loaded
        show(ds, target)
        print(f"wrote {target}")


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors end with the same ``error: ...`` line as every other."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parser():
    p = _Parser(prog="python -m reproduce", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    _run_commands(sub)
    _model_commands(sub)
    return p


def with_profile(q):
    """The options every command that trains has: the profile and what may override it."""
    from reproduce.profiles import DEFAULT, NAMES
    q.add_argument("--profile", default=DEFAULT, help=f"one of {', '.join(NAMES)} (default {DEFAULT})")
    q.add_argument("--precision", choices=("float32", "bf16", "auto"),
                   help="override the profile's precision (auto: bf16 where the hardware has it)")
    q.add_argument("--epochs", type=int, help="override the profile's number of epochs")
    q.add_argument("--rotation", choices=("quarter", "any"),
                   help="augmentation: the square's 8 symmetries (default) or any angle")
    q.add_argument("--seeds", help="override the profile's training seeds, e.g. 0 or 0,1,2 "
                                   "(the data are made with the first)")
    q.add_argument("--image-size", type=int, metavar="N", help=IMAGE_SIZE_HELP)
    q.add_argument("--fm-weights", metavar="PATH", help=FM_WEIGHTS_HELP)
    return q


def _run_commands(sub):
    """The commands on a whole results folder: all, bench, bf16-check, verify."""
    from reproduce import runner
    q = with_profile(sub.add_parser("all", help="every experiment into a results folder"))
    q.add_argument("--out", default="results")
    q.add_argument("--only", help="run only these experiments, comma-separated: "
                                  f"{', '.join(runner.NAMES)}")
    q.add_argument("--datasets", help="comma-separated dataset specs (default: fabric1,fabric2,nanofibres,brick)")
    q.add_argument("--reuse-evaluations", action="store_true",
                   help="with --only: draw tables and figures from the evaluation folders "
                        "already in OUT/eval instead of evaluating again")
    experiment_options.add_arguments(q)  # --checkpoints (budget), --sweep-minutes, ...
    q.set_defaults(func=cmd_all)

    q = sub.add_parser("bench", help="how fast training and segmentation run")
    q.add_argument("--out", default="results")
    q.add_argument("--repeats", type=int, default=3)
    q.add_argument("--no-smoke", action="store_true", help="skip timing the smoke reproduction")
    q.set_defaults(func=cmd_bench)

    q = sub.add_parser("bf16-check", aliases=["precision"],  # its name until this release
                       help="the default run against a companion run in the other precision "
                       "(bf16_check.md; trains the companion if it is missing)")
    q.add_argument("--profile", default=None, help="check that the default run used this profile")
    q.add_argument("--datasets", help="default: the default run's datasets")
    q.add_argument("--out", default="results")
    q.set_defaults(func=cmd_bf16_check)

    q = sub.add_parser("verify", help="recompute a results folder's numbers independently "
                                      "(verify.md; exit 1 on a mismatch)")
    q.add_argument("dir", nargs="?", default="results", help="the results folder (default results)")
    q.add_argument("--report", help="where to write the report (default DIR/verify.md)")
    q.set_defaults(func=cmd_verify)


def _model_commands(sub):
    """The commands on one model or dataset: train, evaluate, segment, datasets."""
    from methods import METHODS, default_methods
    q = with_profile(sub.add_parser("train", help="train one model"))
    q.add_argument("--dataset", required=True)
    q.add_argument("--method", required=True, help=f"one of {', '.join(METHODS)}")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_train)

    q = with_profile(sub.add_parser("evaluate", help="maps and metrics of one dataset"))
    q.add_argument("--dataset", required=True)
    q.add_argument("--methods", help=f"comma-separated, some of {','.join(METHODS)} "
                                     f"(default: the default run's, {','.join(default_methods())})")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_evaluate)

    q = sub.add_parser("segment", help="heat maps and masks of unlabelled images")
    q.add_argument("--model", required=True, help="a folder written by `train`")
    q.add_argument("--images", nargs="+", required=True)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_segment)

    q = sub.add_parser("datasets", help="export or show a dataset")
    actions = q.add_subparsers(dest="action", required=True)
    e = actions.add_parser("export", help="write a dataset in the MVTec AD layout")
    e.add_argument("spec")
    e.add_argument("dir", help="the folder to write")
    s = actions.add_parser("show", help="montage of training and defective test images")
    s.add_argument("spec")
    s.add_argument("--out", required=True, help="the PNG to write")
    t = actions.add_parser("stats", help="defect areas, grey values and local contrast, "
                                          "fibre width: measured on the generated images")
    t.add_argument("specs", nargs="+", metavar="spec")
    t.add_argument("--out", required=True, help="the Markdown file to write (JSON beside it)")
    for a in (e, s, t):
        if a is not t:
            a.add_argument("--image-size", type=int, metavar="N", help=IMAGE_SIZE_HELP)
        a.add_argument("--seed", type=int, default=0)
        a.add_argument("--small", action="store_true", help="the smoke-scale version")
        a.set_defaults(func=cmd_datasets)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt: the same clean stop."""


def _on_sigterm(signum, frame):
    raise Terminated()


# a file could not be written (or read) for a reason the user can fix, not a bug: one
# line, status 2
_USER_OS_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC,
                   getattr(errno, "EDQUOT", errno.ENOSPC)}


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _apply_image_size(args)
        _apply_fm_weights(args)
        status = args.func(args)  # an int from the commands with a verdict (all, verify)
        status = status if isinstance(status, int) else 0
    except (InputError, TrainingError) as e:  # bad input; a NaN loss
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        how = "SIGTERM" if isinstance(e, Terminated) else "Ctrl-C"
        print(f"error: interrupted ({how}); run the same command again to resume",
              file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except OSError as e:
        if e.errno not in _USER_OS_ERRORS:
            raise
        print(f"error: {e.filename or 'a file'}: {e.strerror}; check its permissions and the "
              "free space, or choose another --out", file=sys.stderr)
        return 2
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return status


if __name__ == "__main__":
    sys.exit(main())
