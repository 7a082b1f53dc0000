"""The one function every estimator and ``aekit train`` trains through: data -> scaler -> model -> Trainer.

It builds what it is asked to (a scaler fitted on the data, a model built from a :class:`ModelSpec` with the
fit's init seed, a validation split drawn with the split seed), trains it with the caller's objective,
augmentation and callbacks, then the model's later stages (VQ-VAE's prior over its codes: :func:`train_stage`)
through the same Trainer, and returns what it built (:class:`Fitted`); it sets nothing on its caller.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch

from aekit.diagnostics import check_code_size
from aekit.models.base import Autoencoder, Stage, create_model
from aekit.seeding import Seeds, torch_seeded
from aekit.training.config import TrainConfig
from aekit.training.loggers import loggers_for_fit
from aekit.training.loop import Trainer, TrainResult
from aekit.validation import Integer, NoneOr, Real, check_params

if TYPE_CHECKING:
    from aekit.data.scalers import Scaler


@dataclass
class ModelSpec:
    """A model to build once the input shape is known: ``create_model(name, input_shape=..., latent_dim, **params)``."""

    name: str
    latent_dim: int
    params: dict = field(default_factory=dict)

    def build(self, input_shape: tuple[int, ...], seed: int) -> Autoencoder:
        with torch_seeded(seed):
            return create_model(self.name, input_shape=tuple(input_shape), latent_dim=int(self.latent_dim),
                                **self.params)


@dataclass
class Fitted:
    """What :func:`train_autoencoder` built: the trained model (on the CPU, in eval mode), the scaler that
    maps raw data to its inputs (None when the data was used as is), the training result, and the result of each
    later stage of the model by name (``{"prior": ...}`` for a VQ-VAE)."""

    model: Autoencoder
    scaler: Scaler | None
    result: TrainResult
    stages: dict[str, TrainResult] = field(default_factory=dict)


@dataclass(frozen=True)
class Resumable:
    """Where the fits inside :func:`resumable_fits` keep their resume state, and what they report."""

    checkpoint_dir: str
    every_steps: int | None = None
    callbacks: tuple = ()


_RESUMABLE: contextvars.ContextVar[Resumable | None] = contextvars.ContextVar("aekit_resumable", default=None)


@contextlib.contextmanager
def resumable_fits(checkpoint_dir, *, every_steps: int | None = None, callbacks: Sequence = ()) -> Iterator[None]:
    """Make every estimator fit in this block resumable: its training writes its resume state to
    ``checkpoint_dir`` after every epoch (and every ``every_steps`` steps), and starts from the state found
    there, so a fit killed at any point (hours of training on a laptop, a session that ends) goes on where it
    stopped when the same fit runs again (``benchmarks/train_pretrained.py``). ``callbacks`` join the
    Trainer's (``cb(epoch, logs)``: progress logs). Use one folder per fit: a second fit in the same block
    would resume from the first's state."""
    token = _RESUMABLE.set(Resumable(str(checkpoint_dir), every_steps, tuple(callbacks)))
    try:
        yield
    finally:
        _RESUMABLE.reset(token)


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): ``fraction`` of ``n`` held out when there are at least 20 samples."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(fraction * n)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_autoencoder(X, target=None, *, model: ModelSpec | Autoencoder, config: TrainConfig, seeds: Seeds,
                      objective=None, scaler=None, val=None, validation_fraction: float = 0.0, corruption=None,
                      augment=None, fields: dict | None = None,
                      callbacks: Sequence | Callable[[Autoencoder], Sequence] = (), resume: bool = False) -> Fitted:
    """Scale, build and train; returns :class:`Fitted`.

    Parameters
    ----------
    X, target
        Arrays in the model's layout ``(n, *input_shape)``; ``target`` replaces the input as the
        training target (scaled with the inputs when the objective's targets are data).
    fields
        More named per-sample arrays for every batch record, as they are (not scaled): ``{"label": y}``
        (int64 class indices, -1 unlabelled), weights, masks, ... (split with X).
    augment, corruption
        ``augment(batch, generator) -> batch`` for every training step, or a corruption of the
        inputs (short for ``augment=Corrupt(corruption)``, :mod:`aekit.training.batch`).
    model
        A :class:`ModelSpec` (built for ``X``'s sample shape with ``seeds.init``) or a model to train as is.
    config
        The training budget; its ``random_state`` is replaced by ``seeds.train``.
    scaler
        An unfitted scaler (fitted here on ``X``), a fitted one, or None (data used as is).
    val
        Held-out ``x`` or ``(x, target)`` in raw units; otherwise ``validation_fraction`` of ``X`` (at least
        20 samples) is held out, drawn with ``seeds.split``.
    callbacks
        Callbacks for the Trainer, or a function of the built model that returns them; the loggers of the
        enclosing :func:`aekit.training.loggers.log_to` block are added (one run per fit).
    """
    import dataclasses

    from aekit.objectives import Reconstruction, make_objective

    check_params("train_autoencoder", {"validation_fraction": validation_fraction},
                 {"validation_fraction": Real(0, 1, closed="left")})
    objective = make_objective(objective)
    if isinstance(X, torch.utils.data.IterableDataset):  # a stream (aekit.data.streaming): scaled as it is read
        if scaler is not None or target is not None or fields:
            raise ValueError("a stream is trained on as it is read: give it its scaler as its transform "
                             "(ArrayStream.with_transform) and no separate scaler, targets or fields")
        train, sample_shape = X, tuple(X.sample_shape)
    else:
        train, val, sample_shape = _prepared(X, target, objective, scaler, val, validation_fraction, seeds, fields)
    if isinstance(model, ModelSpec):
        model = model.build(sample_shape, seeds.init)
    if model.loss is not None and type(objective) is Reconstruction:  # the family's own reconstruction loss
        objective = make_objective(model.loss)
    check_code_size(model, copies_input=corruption is None and augment is None and target is None)
    if callable(callbacks):
        callbacks = callbacks(model)
    config = dataclasses.replace(config, random_state=seeds.train)
    resumable = _RESUMABLE.get()
    if resumable is not None:   # inside resumable_fits: write the resume state there and start from it
        config = dataclasses.replace(config, checkpoint_dir=resumable.checkpoint_dir,
                                     checkpoint_every_steps=resumable.every_steps)
        callbacks, resume = [*callbacks, *resumable.callbacks], True
    name = getattr(model, "name", type(model).__name__)
    loggers = loggers_for_fit(name, {"model": name, "latent_dim": getattr(model, "latent_dim", None),
                                     "objective": objective.name, **config.to_dict()})
    try:
        result = Trainer(model, config, objective=objective, augment=augment, corruption=corruption,
                         callbacks=[*callbacks, *loggers]).fit(train, val, resume=resume)
    finally:
        for logger in loggers:
            logger.close()
    stages = {}
    if not isinstance(train, torch.utils.data.Dataset):  # later stages learn from the in-memory training inputs
        inputs = train["input"] if isinstance(train, dict) else train[0] if isinstance(train, tuple) else train
        for stage in model.later_stages():
            stages[stage.name] = train_stage(stage, inputs, config=config, resume=resume)
    return Fitted(model.cpu().eval(), scaler, result, stages)


def train_stage(stage: Stage, inputs, *, config: TrainConfig, resume: bool = False) -> TrainResult:
    """Train a later stage of a model (:class:`aekit.models.base.Stage`) through the Trainer, on the records it
    makes from (up to ``stage.max_samples`` of) the model's training ``inputs``.

    ``config`` is the fit's: the stage keeps its seed (``random_state``), device, precision, progress bar and
    ``max_time`` (a budget of its own), and resumes from ``<checkpoint_dir>/<stage name>`` when the fit does;
    its epochs, batch size and learning rate (constant, Adam, every epoch trained) are the stage's own.
    """
    import dataclasses
    import os

    records = stage.records(torch.as_tensor(np.asarray(inputs[:stage.max_samples], dtype=np.float32)))
    checkpoint_dir = None if config.checkpoint_dir is None else os.path.join(config.checkpoint_dir, stage.name)
    stage_config = dataclasses.replace(
        config, epochs=stage.epochs, batch_size=stage.batch_size, lr=stage.lr, optimizer="adam", weight_decay=0.0,
        schedule="constant", warmup_steps=0, early_stopping=None, grad_clip=None, val_every_steps=None,
        checkpoint_dir=checkpoint_dir, compile=False)
    stage.module.requires_grad_(True)
    try:
        result = Trainer(stage.module, stage_config, objective=stage.objective).fit(records, resume=resume)
    finally:
        for p in stage.module.parameters():
            p.grad = None
        stage.module.requires_grad_(False)
    stage.done()
    return result


def fit_prior(model: Autoencoder, X, *, epochs: int = 30, batch_size: int = 64, lr: float = 1e-3,
              random_state: int | None = 0, progress: bool = False) -> list[float]:
    """Train a VQ-VAE's prior over its codes (``model.prior``) on the code grids of ``X`` (N, *input_shape), the
    autoencoder frozen, through the Trainer (:func:`train_stage`). Returns the mean training NLL per epoch, in
    nats per code. Marks the prior fitted (saved with the model)."""
    if not callable(getattr(model, "prior_stage", None)):
        raise TypeError(f"fit_prior needs a 'vq-vae' model, got {type(model).__name__}")
    check_params("fit_prior", {"epochs": epochs, "batch_size": batch_size, "lr": lr, "random_state": random_state},
                 {"epochs": Integer(1), "batch_size": Integer(1), "lr": Real(0, closed="neither"),
                  "random_state": NoneOr(Integer(0, 2**32 - 1))})
    x = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X,
                        dtype=torch.float32)
    if x.ndim != len(model.input_shape) + 1 or tuple(x.shape[1:]) != model.input_shape or len(x) == 0:
        raise ValueError(f"fit_prior: X must be shaped (N, *{model.input_shape}) with N >= 1, got {tuple(x.shape)}")
    device = next(model.parameters()).device
    config = TrainConfig(random_state=random_state, progress=progress, device=str(device))
    stage = model.prior_stage(epochs=epochs, batch_size=batch_size, lr=lr)._replace(max_samples=len(x))
    result = train_stage(stage, x, config=config)
    return [h["train_loss"] for h in result.history]


def _prepared(X, target, objective, scaler, val, validation_fraction: float, seeds: Seeds, fields=None):
    """Arrays scaled (the scaler fitted on ``X`` when it is not yet) and split: (train, val, sample shape); with
    named ``fields`` the data are dicts of named arrays (``{"input", "target"?, **fields}``)."""
    if scaler is not None and not scaler.is_fitted:
        scaler.fit(X)
    x = _scaled(X, scaler)

    def as_target(t):  # targets that are data are scaled with the inputs; class labels are not
        return None if t is None else _scaled(t, scaler if objective.target_is_data else None)

    def record(xs, ys, rows):  # the array, a pair, or (with fields) named arrays
        if fields:
            return {"input": xs, **({} if ys is None else {"target": ys}),
                    **{k: np.asarray(v)[rows] for k, v in fields.items()}}
        return xs if ys is None else (xs, ys)

    if fields:
        for name, v in fields.items():
            if len(v) != len(x):
                raise ValueError(f"field {name!r} has {len(v)} rows but X has {len(x)} samples")
    y = as_target(target)
    if val is None:
        tr, va = split_validation(len(x), validation_fraction, seeds.split)
        train = record(x[tr], None if y is None else y[tr], tr)
        val = None if len(va) == 0 else record(x[va], None if y is None else y[va], va)
    else:
        if fields:
            raise ValueError("named fields go with a validation split of X (validation_fraction), not a given val")
        train = record(x, y, slice(None))
        vx, vy = val if isinstance(val, tuple) else (val, None)
        vx, vy = _scaled(vx, scaler), as_target(vy)
        val = vx if vy is None else (vx, vy)
    return train, val, tuple(x.shape[1:])


def _scaled(a, scaler) -> np.ndarray:
    if scaler is None:
        return np.asarray(a, dtype=np.float32)
    return np.asarray(scaler.transform(a), dtype=np.float32)
