"""The one function every estimator and ``aekit train`` trains through: data -> scaler -> model -> Trainer.

It builds what it is asked to (a scaler fitted on the data, a model built from a :class:`ModelSpec` with the
fit's init seed, a validation split drawn with the split seed), trains it with the caller's objective,
corruption and callbacks, and returns what it built (:class:`Fitted`); it sets nothing on its caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from aekit.diagnostics import check_code_size
from aekit.models.base import Autoencoder, create_model
from aekit.seeding import Seeds, torch_seeded
from aekit.training.config import TrainConfig
from aekit.training.loop import Trainer, TrainResult
from aekit.validation import Real, check_params


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
    maps raw data to its inputs (None when the data was used as is) and the training result."""

    model: Autoencoder
    scaler: object | None
    result: TrainResult


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): ``fraction`` of ``n`` held out when there are at least 20 samples."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(fraction * n)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_autoencoder(X, target=None, *, model: ModelSpec | Autoencoder, config: TrainConfig, seeds: Seeds,
                      objective=None, scaler=None, val=None, validation_fraction: float = 0.0, corruption=None,
                      callbacks: Sequence | Callable[[Autoencoder], Sequence] = (), resume: bool = False) -> Fitted:
    """Scale, build and train; returns :class:`Fitted`.

    X, target : arrays in the model's layout ``(n, *input_shape)``; ``target`` replaces the input as the
        training target (scaled with the inputs when the objective's targets are data).
    model : a :class:`ModelSpec` (built for ``X``'s sample shape with ``seeds.init``) or a model to train as is.
    config : the training budget; its ``random_state`` is replaced by ``seeds.train``.
    scaler : an unfitted scaler (fitted here on ``X``), a fitted one, or None (data used as is).
    val : held-out ``x`` or ``(x, target)`` in raw units; otherwise ``validation_fraction`` of ``X`` (at least
        20 samples) is held out, drawn with ``seeds.split``.
    callbacks : callbacks for the Trainer, or a function of the built model that returns them.
    """
    import dataclasses

    from aekit.objectives import Reconstruction, make_objective

    check_params("train_autoencoder", {"validation_fraction": validation_fraction},
                 {"validation_fraction": Real(0, 1, closed="left")})
    objective = make_objective(objective)
    if isinstance(X, torch.utils.data.IterableDataset):  # a stream (aekit.data.streaming): scaled as it is read
        if scaler is not None or target is not None:
            raise ValueError("a stream is trained on as it is read: give it its scaler as its transform "
                             "(ArrayStream.with_transform) and no separate scaler or targets")
        train, sample_shape = X, tuple(X.sample_shape)
    else:
        train, val, sample_shape = _prepared(X, target, objective, scaler, val, validation_fraction, seeds)
    if isinstance(model, ModelSpec):
        model = model.build(sample_shape, seeds.init)
    if model.loss is not None and type(objective) is Reconstruction:  # the family's own reconstruction loss
        objective = make_objective(model.loss)
    check_code_size(model, copies_input=corruption is None and target is None)
    if callable(callbacks):
        callbacks = callbacks(model)
    config = dataclasses.replace(config, random_state=seeds.train)
    result = Trainer(model, config, objective=objective, corruption=corruption,
                     callbacks=callbacks).fit(train, val, resume=resume)
    return Fitted(model.cpu().eval(), scaler, result)


def _prepared(X, target, objective, scaler, val, validation_fraction: float, seeds: Seeds):
    """Arrays scaled (the scaler fitted on ``X`` when it is not yet) and split: (train, val, sample shape)."""
    if scaler is not None and not scaler.is_fitted:
        scaler.fit(X)
    x = _scaled(X, scaler)

    def as_target(t):  # targets that are data are scaled with the inputs; class labels are not
        return None if t is None else _scaled(t, scaler if objective.target_is_data else None)

    y = as_target(target)
    if val is None:
        tr, va = split_validation(len(x), validation_fraction, seeds.split)
        train = x[tr] if y is None else (x[tr], y[tr])
        val = None if len(va) == 0 else (x[va] if y is None else (x[va], y[va]))
    else:
        train = x if y is None else (x, y)
        vx, vy = val if isinstance(val, tuple) else (val, None)
        vx, vy = _scaled(vx, scaler), as_target(vy)
        val = vx if vy is None else (vx, vy)
    return train, val, tuple(x.shape[1:])


def _scaled(a, scaler) -> np.ndarray:
    if scaler is None:
        return np.asarray(a, dtype=np.float32)
    return np.asarray(scaler.transform(a), dtype=np.float32)
