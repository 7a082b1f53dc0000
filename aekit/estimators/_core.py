"""The root of every task estimator: parameters, training, and saving / loading through declared state.

What the data is (and so how inputs are read, scaled and given back) belongs to a family base on top of
:class:`Estimator`:

- :class:`aekit.estimators.AutoencoderEstimator` (``_base.py``): fixed-shape samples: table rows, images of
  one size, windows of one length (``layout_`` says how the caller's arrays map to the model's);
- :class:`aekit.estimators.ImageEstimator` (``_image.py``): images of any size, processed in tiles;
- :class:`aekit.estimators.SeriesEstimator` (``_series.py``): one long series ``(T, C)`` read as windows.

Subclasses store their constructor arguments unchanged (scikit-learn rule: ``__init__`` validates
nothing), declare what each may be in ``_constraints`` (checked by :meth:`Estimator._check_params` at the start
of ``fit``, see :mod:`aekit.validation`) and what a fitted estimator keeps in ``_fitted``
(:mod:`aekit.estimators._state`: saved and loaded here, never by hand), resolve ``random_state`` once per
fit (:func:`aekit.seeding.resolve_seeds`) and train through :meth:`Estimator._train` (the one training
function, :func:`aekit.training.train_autoencoder`).
"""
from __future__ import annotations

import inspect
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from aekit.data import SCALER_METHODS
from aekit.estimators._state import JSON, dump_state, jsonable, load_state
from aekit.persistence import ModelFileError, TrainedAutoencoder, read_model, save_model
from aekit.registry import Registry
from aekit.seeding import Seeds
from aekit.threads import threaded_call
from aekit.training.fitting import Fitted, ModelSpec
from aekit.validation import RANDOM_STATE, Boolean, Either, Instance, Integer, NoneOr, Options, Real, check_params

_ESTIMATORS: Registry[type["Estimator"]] = Registry("estimator")


def register_estimator(name: str):
    """Class decorator: :func:`aekit.load` rebuilds folders saved by this class."""
    return _ESTIMATORS.register(name)


def list_estimators() -> list[str]:
    """Names of every registered estimator (what ``aekit fit NAME`` takes), sorted."""
    return _ESTIMATORS.names()


def estimator_class(name: str) -> type["Estimator"]:
    """The estimator class registered under ``name``; a ValueError lists the known names."""
    return _ESTIMATORS.get(name)


VALIDATION_FRACTION = Real(0, 1, closed="left")
# the public methods that compute (each runs under one thread decision, aekit/threads.py)
THREADED_METHODS = ("fit", "partial_fit", "fit_predict", "fit_transform", "predict", "predict_proba",
                    "predict_channels", "transform", "inverse_transform", "score", "score_samples",
                    "decision_function", "anomaly_score", "error_map", "reconstruct", "compress", "decompress",
                    "sample", "interpolate", "encode_codes", "score_to", "reconstruct_to", "transform_to")


class Estimator(BaseEstimator):
    """Root of the task estimators (every one is an instance); not used directly: subclass a family base.

    Parameters shared by every subclass (each subclass lists them in its own ``__init__``): ``model``,
    ``latent_dim``, ``model_params`` (extra model arguments), ``epochs``, ``batch_size``, ``lr``, ``max_time``
    (seconds), ``validation_fraction`` (held out for early stopping when there are at least 20 samples),
    ``scaler``, ``random_state``, ``device``, ``verbose``.
    """

    _loss = "mse"          # the training loss the task uses
    _family_base = True    # set in the body of each family base (``load`` on it opens any estimator)

    # what each parameter may be (aekit.validation); a subclass declares every one of its __init__
    # parameters, starting from these shared ones: {**Estimator._constraints, ...}
    _constraints: dict = {
        "latent_dim": Integer(1),
        "model": Instance(str, what="a registered model name (aekit.list_models())"),
        "model_params": NoneOr(Instance(dict, what="a dict of model arguments")),
        "epochs": Integer(1),
        "batch_size": Integer(1),
        "lr": Real(0, closed="neither"),
        "max_time": NoneOr(Real(0, closed="neither")),
        "validation_fraction": VALIDATION_FRACTION,
        "scaler": Options("auto", *SCALER_METHODS),
        "random_state": RANDOM_STATE,
        "device": Instance(str, what="a device name such as 'cpu', 'cuda' or 'auto'"),
        "verbose": Either(Boolean(), Integer(0)),
    }

    # what a fitted estimator keeps beyond its autoencoder ({attribute: codec}, aekit.estimators._state);
    # a subclass extends it: {**Parent._fitted, "classes_": ARRAY}
    _fitted: dict = {"history_": JSON, "n_iter_": JSON}

    def __init_subclass__(cls, **kwargs):
        """Every public compute method a class defines runs under one thread count for the whole call
        (training, scoring, statistics, mixtures: :func:`aekit.threads.call_threads`)."""
        super().__init_subclass__(**kwargs)
        for name in THREADED_METHODS:
            method = cls.__dict__.get(name)
            if inspect.isfunction(method) and not getattr(method, "__aekit_threaded__", False):
                setattr(cls, name, threaded_call(method))

    # ------------------------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        """Check every parameter against ``_constraints``; ``fit`` calls it first. Subclasses
        extend it (``super()._check_params()`` first) only with rules that tie parameters together."""
        check_params(type(self).__name__, self.get_params(deep=False), self._constraints)

    # ------------------------------------------------------------------------------------ training
    def _make_scaler(self, X: np.ndarray):
        """The fitted scaler for training data ``X`` (model layout) under ``scaler="auto"``; None here: the
        family decides (images of any size map their own value range to [0, 1])."""
        return None

    def _model_name(self, input_shape: tuple[int, ...]) -> str:
        return self.model

    def _default_model_params(self, name: str, input_shape: tuple[int, ...]) -> dict:
        """Model arguments used unless ``model_params`` overrides them (subclasses adapt them to the task)."""
        return {}

    def _model_spec(self, input_shape: tuple[int, ...], model_kwargs: dict | None = None) -> ModelSpec:
        """The model to build: the task's defaults, then ``model_kwargs``, then the user's ``model_params``."""
        name = self._model_name(input_shape)
        params = {**self._default_model_params(name, input_shape), **(model_kwargs or {}), **(self.model_params or {})}
        return ModelSpec(name, self._latent_dim(), params)

    def _latent_dim(self) -> int:
        return int(self.latent_dim)

    def _train(self, X: np.ndarray, target: np.ndarray | None = None, *, seeds: Seeds, model=None, scaler="auto",
               objective=None, val=None, corruption=None, augment=None, fields: dict | None = None, callbacks=(),
               epochs: int | None = None, validation_fraction: float | None = None,
               lr: float | None = None) -> Fitted:
        """Train through :func:`aekit.training.train_autoencoder` with this estimator's budget and split.

        ``model``: a ModelSpec or a model (default: :meth:`_model_spec` for ``X``); ``scaler``: "auto" (the
        ``scaler`` parameter's choice, fitted on ``X``), a scaler, or None; ``fields``: named per-sample arrays
        for the batch records (``{"label": ...}``); ``augment``: the step's ``augment(batch, generator)``;
        ``validation_fraction``: None for the estimator's own; ``lr``: None for the ``lr`` parameter (a
        fine-tuning may take less)."""
        from aekit.training import TrainConfig, train_autoencoder

        config = TrainConfig(epochs=int(epochs or self._epochs()), batch_size=self._batch_size(),
                             lr=float(lr or self.lr), max_time=self.max_time, progress=bool(self.verbose),
                             device=self.device)
        return train_autoencoder(
            X, target, model=model if model is not None else self._model_spec(tuple(X.shape[1:])), config=config,
            seeds=seeds, objective=objective if objective is not None else self._loss,
            scaler=self._make_scaler(X) if isinstance(scaler, str) else scaler, val=val,
            validation_fraction=float(self.validation_fraction if validation_fraction is None else validation_fraction),
            corruption=corruption, augment=augment, fields=fields, callbacks=callbacks)

    def _batch_size(self) -> int:
        """The training batch size (a subclass may resolve an "auto" setting by the data kind)."""
        return int(self.batch_size)

    def _epochs(self) -> int:
        """The training epochs (a subclass may resolve an "auto" setting by the data kind)."""
        return int(self.epochs)

    def _epochs_for(self, n_train: int) -> int:
        """:meth:`_epochs`, or more when ``n_train`` samples give fewer than the estimator's ``min_steps``
        optimisation steps (estimators without that parameter train exactly :meth:`_epochs`)."""
        steps_per_epoch = math.ceil(n_train / min(self._batch_size(), n_train))
        return max(self._epochs(), math.ceil(int(getattr(self, "min_steps", 0)) / steps_per_epoch))

    def _keep(self, fitted: Fitted, metadata: dict | None = None) -> None:
        """Adopt a trained model as ``autoencoder_``, with its history."""
        self.autoencoder_ = TrainedAutoencoder(fitted.model, fitted.scaler,
                                               metadata={"model": fitted.model.name, **(metadata or {})})
        self.history_ = fitted.result.history
        self.n_iter_ = len(fitted.result.history)

    # ------------------------------------------------------------------------------------ applying
    def _check_fitted(self) -> None:
        check_is_fitted(self, "autoencoder_")

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """Codes of inputs in the model's layout (raw units)."""
        return self.autoencoder_.encode(x)

    def _reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Reconstructions of inputs in the model's layout, in raw units."""
        return self.autoencoder_.reconstruct(x).astype(np.float32)

    def _decode(self, z: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Raw-unit outputs for codes ``z`` (model layout)."""
        ae = self.autoencoder_
        z = torch.as_tensor(np.asarray(z, dtype=np.float32))
        with torch.no_grad():
            out = torch.cat([ae.model.decode(z[i:i + batch_size]) for i in range(0, len(z), batch_size)]).numpy()
        return ae.scaler.inverse_transform(out).astype(np.float32) if ae.scaler is not None else out

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        """The JSON values of the fitted state declared in ``_fitted`` (an estimator that keeps more than a
        declaration can say extends this, ``super()._get_state()`` first)."""
        return dump_state(self, self._fitted)

    def _set_state(self, state: dict) -> None:
        load_state(self, self._fitted, state)

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors of the declared fitted state (saved beside the autoencoder's weights)."""
        return dump_state(self, self._fitted, tensors=True)

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        load_state(self, self._fitted, tensors, tensors=True)

    def _restore_derived(self) -> None:
        """After loading: rebuild attributes that follow from the saved ones (none here)."""

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the fitted estimator as a model folder (``kind: "estimator"``); :func:`aekit.load` reads it back."""
        self._check_fitted()
        params = json.loads(json.dumps(self.get_params(deep=False), default=_json_param))
        meta = {**self.autoencoder_.metadata, "estimator": {"class": self.name, "params": params,
                                                            "state": jsonable(self._get_state())}}
        return save_model(directory, self.autoencoder_.model, scaler=self.autoencoder_.scaler, metadata=meta,
                          extra=self._get_tensors(), kind="estimator")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "Estimator":
        """Deprecated: use :func:`aekit.load` (this reads a folder written by :meth:`save` of this class, or of
        any estimator when called on a family base)."""
        _deprecated(f"{cls.__name__}.load")
        est = rebuild_estimator(read_model(directory), directory)
        if not cls.__dict__.get("_family_base", False) and not isinstance(est, cls):
            raise ModelFileError(f"{directory} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def rebuild_estimator(trained: TrainedAutoencoder, directory: str | os.PathLike = "the folder") -> Estimator:
    """The estimator saved with ``trained`` (an estimator folder read by :func:`aekit.persistence.read_model`):
    its class from the registry, its parameters, its declared state; what :func:`aekit.load` returns."""
    info = trained.metadata.get("estimator")
    if not isinstance(info, dict) or "class" not in info:
        raise ModelFileError(f"{directory} holds an autoencoder, not an estimator (it was written by `aekit train` "
                             "or save_model); aekit.load opens both kinds")
    try:
        cls = _ESTIMATORS.get(info["class"])
        est = cls(**info.get("params", {}))
        est._set_state(info.get("state", {}))
        est._set_tensors(trained.extra)
        est.autoencoder_ = trained
        est._restore_derived()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # a JSON tree of the wrong shape
        raise ModelFileError(f"{directory}: cannot rebuild the {info.get('class')!r} estimator ({exc})") from None
    return est


def load_estimator(directory: str | os.PathLike) -> Estimator:
    """Deprecated: use :func:`aekit.load`, which opens every model folder."""
    _deprecated("load_estimator")
    return rebuild_estimator(read_model(directory), directory)


def _deprecated(old: str) -> None:
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use aekit.load(directory)",
                  FutureWarning, stacklevel=3)


def _json_param(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (tuple, np.ndarray)):
        return list(obj)
    return None  # a RandomState or a callable corruption cannot be saved; it does not affect a fitted model
