"""One grammar for every command (the README's "Command-line grammar" table): a flag means the same thing
wherever it appears, and an old spelling keeps working for one release with a one-line warning.

- ``--param KEY=VALUE``: a parameter of the estimator the command fits (``aekit train``: a run option, any key
  of its TOML file); ``--model-param KEY=VALUE``: an argument of the autoencoder model inside it.
- ``--epochs``, ``--seed``, ``--batch-size``, ``--max-time``, ``--device``: of the fit, in every command that
  fits something (``--seed`` also seeds the command's own draws: ``restore --corrupt``, ``sample``).
- Fit, then apply (restore, segment, detect, cluster, compress): ``--model DIR`` (or ``pretrained:NAME``)
  applies a saved model; otherwise ``--fit DATA`` fits a new one first and writes it to ``OUT/model``
  (``cluster`` fits on its ``--data`` unless told otherwise).
- ``--truth PATH``: the ground truth of an input, for scoring.
- ``--log KIND:TARGET``: send the training history of every fit the command runs to TensorBoard
  (``tensorboard:DIR``) or MLflow (``mlflow:URI``), repeatable (:mod:`aekit.training.loggers`).
"""
from __future__ import annotations

import argparse
import warnings

from aekit.cli.common import FIT_FLAGS, CLIError


def deprecated(old: str, new: str) -> None:
    """Say once, on one line (``aekit: warning: ... (FutureWarning)``), that ``old`` goes in the next release."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}", FutureWarning,
                  stacklevel=2)


class Renamed(argparse.Action):
    """An old spelling of a flag: warns (see :func:`deprecated`), then stores into the new flag's ``dest``,
    appending when ``append`` (like the new flag does)."""

    def __init__(self, option_strings, dest, *, new: str, append: bool = False, **kwargs):
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new, self.append = new, append

    def __call__(self, parser, namespace, values, option_string=None):
        deprecated(option_string, self.new)
        if self.append:
            values = [*(getattr(namespace, self.dest, None) or []), values]
        setattr(namespace, self.dest, values)


def batch_size(text: str):
    """``--batch-size``: a positive integer or ``auto`` (the estimator's rule)."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer or 'auto'")
    return value


def log_destination(text: str) -> str:
    """``--log``: a ``KIND:TARGET`` destination of :mod:`aekit.training.loggers` (``tensorboard:DIR``, ...)."""
    from aekit.training.loggers import parse_destination

    try:
        parse_destination(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_log_flag(p) -> None:
    """``--log KIND:TARGET`` on a parser or group; :func:`aekit.cli.main` runs the command inside
    :func:`aekit.training.loggers.log_to` of the destinations given."""
    p.add_argument("--log", action="append", default=[], type=log_destination, metavar="KIND:TARGET",
                   help="log the training history to tensorboard:DIR or mlflow:URI (repeatable; needs "
                   "aekit[tensorboard] or aekit[mlflow]; default: no logging)")


def add_fit_flags(p: argparse.ArgumentParser, name: str, *, registered: str, when: str = "",
                  seed_help: str = "") -> None:
    """The flags of a fit, the same in every command: ``--param``, ``--model-param``, ``--epochs``, ``--seed``,
    ``--batch-size``, ``--max-time``, ``--device``, ``--log``. ``name``: the estimator (for the help texts);
    ``registered``: its name in ``aekit fit``; ``when``: the condition under which the command fits
    (e.g. "with --fit"); ``seed_help``: what else ``--seed`` seeds in this command."""
    g = p.add_argument_group(f"fitting the {name}" + (f" ({when})" if when else ""))
    g.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"{name} parameter, JSON value (`aekit fit {registered} --help` lists them)")
    g.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE",
                   help=f"argument of the {name}'s autoencoder model, JSON value (its model_params)")
    g.add_argument("--epochs", type=int, help=f"passes over the training data (default: the {name}'s)")
    g.add_argument("--seed", type=int, help=f"random_state of the fit: initialization, shuffling{seed_help} "
                   "(default: 0)")
    g.add_argument("--batch-size", type=batch_size, help=f"samples per optimization step (default: the {name}'s)")
    g.add_argument("--max-time", type=float, help="wall-clock budget of the fit in seconds (default: none)")
    g.add_argument("--device", help=f"cpu, cuda, cuda:1, ... (default: the {name}'s, cpu)")
    add_log_flag(g)


def add_model_source(p: argparse.ArgumentParser, name: str, *, registered: str, model_help: str = "",
                     fit_help: str = "", group=None) -> None:
    """``--model DIR`` (a saved model to apply) and ``--fit DATA`` (fit a new one first, written to OUT/model)."""
    target = group if group is not None else p
    target.add_argument("--model", help=model_help or f"folder of a saved {name} to apply (written by `aekit fit "
                        f"{registered}`, or OUT/model by --fit)")
    target.add_argument("--fit", metavar="DATA", help=fit_help or f"fit a new {name} on DATA first and write it to "
                        "OUT/model: a dataset name (digits, ...) or a path (folder, .npy, .npz, .csv)")


def fit_flags_given(args: argparse.Namespace, *, except_: tuple[str, ...] = ()) -> list[str]:
    """The fitting flags given on the command line (as typed: ``--epochs``), ``except_`` dests aside."""
    given = [f"--{dest.replace('_', '-')}" for dest in (*FIT_FLAGS, "param", "model_param", "log")
             if dest not in except_ and getattr(args, dest, None) not in (None, [])]
    return given


def refuse_fit_flags(args: argparse.Namespace, *, why: str, except_: tuple[str, ...] = ()) -> None:
    """A saved model keeps its own parameters: fitting flags beside ``--model`` are an error, not ignored."""
    given = fit_flags_given(args, except_=except_)
    if given:
        raise CLIError(f"{given[0]} sets the parameters of a fit, but {why}; a saved model keeps its own")
