"""Experiment tracking: Trainer callbacks that send every epoch's history to TensorBoard or MLflow.

A logger is a Trainer callback (``cb(epoch, logs)``, :class:`aekit.training.Trainer`) with a ``close()``:

    >>> from aekit.training import Trainer
    >>> from aekit.training.loggers import TensorBoardLogger
    >>> Trainer(model, callbacks=[TensorBoardLogger("runs/tb")]).fit(x)  # doctest: +SKIP

Estimators and commands train through :func:`aekit.training.train_autoencoder`, which opens one logger per fit
for every destination of the enclosing :func:`log_to` block, so any estimator logs without a parameter of its
own, and ``aekit train --log tensorboard:DIR`` (or any command that fits) is the same block around the command:

    >>> import aekit
    >>> with aekit.log_to("tensorboard:runs/tb", "mlflow:http://localhost:5000"):  # doctest: +SKIP
    ...     aekit.Reducer(latent_dim=2).fit(X)

A destination is ``KIND:TARGET``; the kinds are registered (:func:`register_logger`): ``tensorboard:DIR`` (each
fit a run folder under DIR, through ``torch.utils.tensorboard``: ``pip install aekit[tensorboard]``) and
``mlflow:URI`` (each fit an MLflow run at that tracking URI: ``pip install aekit[mlflow]``). Both import their
package only when a fit starts. The history itself is kept as before (``TrainResult.history``, the estimators'
``history_``, ``history.json``).
"""
from __future__ import annotations

import contextlib
import contextvars
import math
import os
import re
from typing import Callable, Iterator

from aekit.registry import Registry

_LOGGERS: Registry[type["RunLogger"]] = Registry("logger")
# the destinations of the enclosing log_to blocks, innermost last
_ACTIVE: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("aekit_log_to", default=())
# keys of a history entry that are its position, not a measurement
_POSITION_KEYS = ("epoch", "step")


def register_logger(kind: str) -> Callable:
    """Class decorator: ``KIND:TARGET`` destinations (``--log``, :func:`log_to`) make this logger class."""
    return _LOGGERS.register(kind)


def list_loggers() -> list[str]:
    """The registered destination kinds (``tensorboard``, ``mlflow``, ...), sorted."""
    return _LOGGERS.names()


class RunLogger:
    """Base of the loggers: a Trainer callback that records each epoch's ``logs`` (and each mid-epoch
    validation, whose ``logs`` has a ``"step"`` key) as numbers, plus the run's parameters once.

    ``target``: where to write (a folder, a tracking URI); ``run_name``: the run's name there;
    ``params``: flat ``{name: value}`` describing the run (model, training options), recorded at the start.
    """

    name = "logger"

    def __init__(self, target: str, *, run_name: str | None = None, params: dict | None = None):
        self.target = str(target)
        self.run_name = run_name
        self.params = dict(params or {})
        self._started = False

    def __call__(self, epoch: int, logs: dict) -> None:
        if not self._started:
            self._start()
            self._started = True
        mid_epoch = "step" in logs
        values = {key: float(v) for key, v in logs.items() if key not in _POSITION_KEYS
                  and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        self._write(values, int(logs["step"]) if mid_epoch else int(epoch), mid_epoch)

    def close(self) -> None:
        """Flush and release the destination (a logger that never started does nothing)."""
        if self._started:
            self._end()
            self._started = False

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # a subclass writes: _start once before the first values, _write per call, _end on close
    def _start(self) -> None:
        raise NotImplementedError

    def _write(self, values: dict[str, float], step: int, mid_epoch: bool) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        raise NotImplementedError


def scalar_tag(key: str, mid_epoch: bool = False) -> str:
    """The TensorBoard tag of a history key: ``train_loss`` -> ``loss/train``, ``val_kl`` -> ``kl/val`` (train and
    validation of one term side by side), others as they are (``lr``); mid-epoch validations under ``step/``."""
    match = re.fullmatch(r"(train|val)_(.+)", key)
    tag = f"{match.group(2)}/{match.group(1)}" if match else key
    return f"step/{tag}" if mid_epoch else tag


@register_logger("tensorboard")
class TensorBoardLogger(RunLogger):
    """Scalars in a TensorBoard event file under ``target`` (a folder, made if missing), one per history key
    (:func:`scalar_tag`), at the epoch (or, for mid-epoch validations, the step); the run's parameters as a
    text summary. View with ``tensorboard --logdir DIR``."""

    def _start(self) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch's writer needs the tensorboard package
            raise ImportError(f"logging to tensorboard:{self.target} needs the tensorboard package: "
                              "pip install 'aekit[tensorboard]'") from exc
        self._writer = SummaryWriter(log_dir=self.target)
        if self.params:
            rows = "\n".join(f"| {k} | {v} |" for k, v in self.params.items())
            self._writer.add_text("params", "| parameter | value |\n| --- | --- |\n" + rows)

    def _write(self, values: dict[str, float], step: int, mid_epoch: bool) -> None:
        for key, value in values.items():
            self._writer.add_scalar(scalar_tag(key, mid_epoch), value, global_step=step)
        self._writer.flush()  # readable while training goes on

    def _end(self) -> None:
        self._writer.close()


@register_logger("mlflow")
class MLflowLogger(RunLogger):
    """An MLflow run at the tracking URI ``target`` (``http://host:5000``, ``databricks``, a store URI), in the
    experiment ``$MLFLOW_EXPERIMENT_NAME`` (default ``aekit``): the run's parameters, and every history key as a
    metric at the epoch (mid-epoch validations as ``step_<key>`` at the step). MLflow 3 refuses a local folder
    store unless ``MLFLOW_ALLOW_FILE_STORE=true``."""

    def _start(self) -> None:
        try:
            import mlflow
        except ImportError as exc:
            raise ImportError(f"logging to mlflow:{self.target} needs MLflow: pip install 'aekit[mlflow]'") from exc
        self._client = mlflow.tracking.MlflowClient(tracking_uri=self.target)
        experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", "aekit")
        found = self._client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self._client.create_experiment(experiment)
        self._run_id = self._client.create_run(experiment_id, run_name=self.run_name).info.run_id
        if self.params:
            from mlflow.entities import Param

            self._client.log_batch(self._run_id, params=[Param(k, str(v)[:6000]) for k, v in self.params.items()])

    def _write(self, values: dict[str, float], step: int, mid_epoch: bool) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"step_{k}" if mid_epoch else k, v, now, step) for k, v in values.items()]
        self._client.log_batch(self._run_id, metrics=metrics)

    def _end(self) -> None:
        self._client.set_terminated(self._run_id)


def parse_destination(text: str) -> tuple[str, str]:
    """``KIND:TARGET`` -> (kind, target); a ValueError names the registered kinds when it is not one."""
    kind, sep, target = str(text).partition(":")
    if not sep or not target or kind not in _LOGGERS:
        raise ValueError(f"log destination {text!r}: expected KIND:TARGET with KIND one of {list_loggers()}, "
                         "e.g. tensorboard:runs/tb or mlflow:http://localhost:5000")
    return kind, target


@contextlib.contextmanager
def log_to(*destinations: str) -> Iterator[None]:
    """Inside this block, every fit (any estimator, :func:`aekit.training.train_autoencoder`) logs its training
    history to each destination (``"tensorboard:DIR"``, ``"mlflow:URI"``); nested blocks add theirs."""
    for text in destinations:
        parse_destination(text)  # a bad destination fails before any training
    token = _ACTIVE.set((*_ACTIVE.get(), *destinations))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_destinations() -> tuple[str, ...]:
    """The destinations of the enclosing :func:`log_to` blocks (empty outside them)."""
    return _ACTIVE.get()


_RUN_NUMBERS: dict[str, int] = {}  # how many runs this process has started per (destination, name)


def loggers_for_fit(name: str, params: dict | None = None) -> list[RunLogger]:
    """One logger per active destination for a fit named ``name`` (the model's name): TensorBoard runs are
    folders ``DIR/NAME``, ``DIR/NAME-2``, ... (one per fit of this process), MLflow runs are named ``NAME``."""
    made: list[RunLogger] = []
    for text in active_destinations():
        kind, target = parse_destination(text)
        run = name
        if kind == "tensorboard":
            n = _RUN_NUMBERS[text + name] = _RUN_NUMBERS.get(text + name, 0) + 1
            run = name if n == 1 else f"{name}-{n}"
            target = os.path.join(target, run)
        made.append(_LOGGERS.get(kind)(target, run_name=run, params=params))
    return made
