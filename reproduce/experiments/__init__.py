"""The experiments of the reproduction, one module each, registered here in run order.

Each entry names an experiment (its module in this package; table_auc, verify and budget
are packages of a few modules, one per step or check), says what it needs, and
lists the files it writes into the results folder (``*``: a dataset's folder name):

  NOTHING      it runs before the evaluations and needs no evaluation (bench, sweep and
               budget train models of their own)
  EVALUATIONS  it reads the evaluation folders ``<out>/eval/<dataset>/`` (format:
               reproduce/context.py), which the runner writes first, training through
               the model cache
  RESULTS      it reads the results folder as the others left it, so it runs last

``python -m reproduce all`` runs every entry marked ``in_full_run`` (reproduce/runner.py);
``--only NAME,...`` any of them. Each module has ``run(ctx)`` (ctx: reproduce/context.py),
which writes the outputs and returns their paths (verify: its report). No experiment
imports another: what two of them share lives in reproduce/ (context.py, plotting.py,
published.py) or below. A module is imported only when it runs, so that the command line
can check ``--only`` before TensorFlow, which some of them import, has loaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

NOTHING, EVALUATIONS, RESULTS = "nothing", "evaluations", "results"


@dataclass(frozen=True)
class Experiment:
    name: str
    needs: str                # NOTHING, EVALUATIONS or RESULTS
    outputs: tuple[str, ...]  # what it writes into the results folder
    in_full_run: bool = True  # False: only on request (--only)

    def run(self, ctx):
        return import_module(f"{__name__}.{self.name}").run(ctx)


REGISTRY = {experiment.name: experiment for experiment in (
    Experiment("table1", NOTHING, ("table1.csv", "table1.md")),
    Experiment("fig_ssim_components", NOTHING, ("fig_ssim_components.png",
                                                "fig_ssim_components.csv")),
    Experiment("fig_datasets", NOTHING, ("fig_datasets.png",)),
    # what training and segmentation cost here; also `python -m reproduce bench`
    Experiment("bench", NOTHING, ("benchmark.md", "benchmark.json"), in_full_run=False),
    # batch size and learning rate at equal wall-clock budgets, on validation loss only
    Experiment("sweep", NOTHING, ("sweep/table_sweep.md", "sweep/table_sweep.csv",
                                  "sweep/fig_sweep.png", "sweep/curves.csv", "sweep/run.json"),
               in_full_run=False),
    # one model per method trained on through checkpoints up to the paper's 15,625 updates;
    # trains its own models (cached), resumes at its last finished checkpoint
    Experiment("budget", NOTHING, ("budget/*/checkpoints.csv", "budget/*/curves.csv",
                                   "budget/*/run.json", "budget/fig_budget.png",
                                   "budget/table_budget.md", "budget/table_budget.csv",
                                   "budget/table_budget_lead.csv", "budget/*/histograms.npz",
                                   "budget/run.json"), in_full_run=False),
    Experiment("table_auc", EVALUATIONS, ("table_auc.csv", "table_auc.md", "claims.json")),
    Experiment("fig_roc", EVALUATIONS, ("fig_roc.png",)),
    Experiment("fig_qualitative", EVALUATIONS, ("fig_qualitative_*.png",)),  # 2 per dataset
    Experiment("fig_training", EVALUATIONS, ("fig_training.png",)),
    # the VAE's KL map against a hand computation, split in its mean and variance parts on
    # every window and on probes (issue 22, item 5); reads the evaluated VAEs from the cache
    Experiment("kl_map", EVALUATIONS, ("kl_map/table_kl_map.md", "kl_map/table_kl_map.csv",
                                       "kl_map/fig_kl_map.png", "kl_map/run.json")),
    # every number of the folder recomputed independently; also `python -m reproduce verify`
    Experiment("verify", RESULTS, ("verify.md",)),
)}
