"""The options of single experiments on ``python -m reproduce all``, checked before TensorFlow.

They reach the experiment as ``ctx.options`` (reproduce/context.py); an option left out is
absent there, and the experiment uses its default (documented in its module):

  --checkpoints 640,1280,...   budget (reproduce/experiments/budget/): updates at which the
                               models are measured
  --sweep-minutes M            sweep (reproduce/experiments/sweep.py): the wall-clock
                               training budget of each configuration
  --sweep-dataset SPEC         sweep: its development dataset
  --batch-sizes 16,32,...      sweep: the batch sizes compared
  --learning-rates 1e-3,...    sweep: the learning rates compared

An option of an experiment that ``--only`` does not name is an error (it would do nothing).
"""
from __future__ import annotations

from errors import InputError

# option dest -> (flag, the experiment it belongs to, help)
OPTIONS = {
    "checkpoints": ("--checkpoints", "budget",
                    "budget: comma-separated update counts to measure at (default 640,1280,2560,"
                    "5120,10240,15625; smoke profile 4,8)"),
    "sweep_minutes": ("--sweep-minutes", "sweep",
                      "sweep: wall-clock training minutes per configuration (default 1.5)"),
    "sweep_dataset": ("--sweep-dataset", "sweep", "sweep: the development dataset (default fabric1)"),
    "batch_sizes": ("--batch-sizes", "sweep", "sweep: comma-separated batch sizes (default 16,32,64,128)"),
    "learning_rates": ("--learning-rates", "sweep",
                       "sweep: comma-separated learning rates (default 1e-3,2e-4)"),
}


def add_arguments(parser) -> None:
    for dest, (flag, _, text) in OPTIONS.items():
        parser.add_argument(flag, dest=dest, help=text)


def _numbers(flag: str, text: str, kind, smallest) -> tuple:
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) < smallest or len(set(values)) != len(values):
        raise InputError(f"{flag} {text!r}: give distinct numbers >= {smallest}, comma-separated")
    return values


def collect(args, only: str | None) -> dict:
    """The options given on the command line, checked, as ``ctx.options``."""
    chosen = {dest: getattr(args, dest, None) for dest in OPTIONS}
    chosen = {dest: value for dest, value in chosen.items() if value is not None}
    names = {n.strip() for n in (only or "").split(",")}
    for dest in chosen:
        flag, experiment, _ = OPTIONS[dest]
        if experiment not in names:
            raise InputError(f"{flag} belongs to the {experiment} experiment: add --only {experiment}")
    out = {}
    if "checkpoints" in chosen:
        out["checkpoints"] = sorted(_numbers("--checkpoints", chosen["checkpoints"], int, 1))
    if "sweep_minutes" in chosen:
        minutes = _numbers("--sweep-minutes", chosen["sweep_minutes"], float, 0.01)
        if len(minutes) != 1:
            raise InputError(f"--sweep-minutes {chosen['sweep_minutes']!r}: give one number")
        out["sweep_minutes"] = minutes[0]
    if "sweep_dataset" in chosen:
        out["sweep_dataset"] = chosen["sweep_dataset"].strip()
    if "batch_sizes" in chosen:
        out["batch_sizes"] = list(_numbers("--batch-sizes", chosen["batch_sizes"], int, 1))
    if "learning_rates" in chosen:
        out["learning_rates"] = list(_numbers("--learning-rates", chosen["learning_rates"], float, 1e-12))
    return out
