"""What every task estimator shares: input checks, scaling, building and training the autoencoder, and
saving to / loading from the model-folder format (``config.json`` + ``model.safetensors``, no pickle).

Subclasses store their constructor arguments unchanged (scikit-learn rule: ``__init__`` validates
nothing), declare what each may be in ``_constraints`` (checked by :meth:`_check_params` at the
start of ``fit``, see :mod:`aekit.validation`), resolve ``random_state`` once per fit
(:func:`aekit.seeding.resolve_seeds`) and train through :meth:`AutoencoderEstimator._train` (the one
training function, :func:`aekit.training.train_autoencoder`). Inputs may be tables
``(n_samples, n_features)`` or images ``(n, H, W)``, ``(n, C, H, W)`` or channels-last ``(n, H, W, C)``;
outputs come back in the caller's layout.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from aekit.data import SCALER_METHODS, DataError, Layout, get_kind, infer_layout
from aekit.persistence import ModelFileError, TrainedAutoencoder, load_autoencoder, save_model
from aekit.registry import Registry
from aekit.seeding import Seeds
from aekit.training.fitting import Fitted, ModelSpec
from aekit.validation import RANDOM_STATE, Boolean, Either, Instance, Integer, NoneOr, Options, Real, check_params

_ESTIMATORS: Registry[type["AutoencoderEstimator"]] = Registry("estimator")


def register_estimator(name: str):
    """Class decorator: :func:`load_estimator` rebuilds folders saved by this class."""
    return _ESTIMATORS.register(name)


def list_estimators() -> list[str]:
    """Names of every registered estimator (what ``aekit fit NAME`` takes), sorted."""
    return _ESTIMATORS.names()


def estimator_class(name: str) -> type["AutoencoderEstimator"]:
    """The estimator class registered under ``name``; a ValueError lists the known names."""
    return _ESTIMATORS.get(name)


VALIDATION_FRACTION = Real(0, 1, closed="left")


def _image_range(lo: float, hi: float) -> tuple[float, float]:
    """The raw range the "auto" scaler maps to [0, 1] for images whose values span ``lo``..``hi``: [0, 1]
    images stay as they are; others map [0, max] (e.g. 0..255 or 0..16) to [0, 1]."""
    return (0.0, hi if hi > 1.0 else 1.0) if lo >= 0 else (lo, hi if hi > lo else lo + 1.0)


class _ScaledRows:
    """A stream's transform: raw rows -> the model's layout, scaled (picklable, for DataLoader workers)."""

    def __init__(self, scaler, layout: Layout):
        self.scaler, self.layout = scaler, layout

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.scaler.transform(self.layout.to_model(rows)).astype(np.float32)


class AutoencoderEstimator(BaseEstimator):
    """Base of the task estimators; not used directly.

    Parameters shared by every subclass (each subclass lists them in its own ``__init__``):
    ``model`` ("auto": ``conv`` for images whose sides divide by 4, else ``mlp``), ``latent_dim``,
    ``model_params`` (extra model arguments), ``epochs``, ``batch_size``, ``lr``, ``max_time`` (seconds),
    ``validation_fraction`` (held out for early stopping when there are at least 20 samples),
    ``scaler`` ("auto": a fixed [0, max] range for images, per-feature min/max for tables),
    ``random_state``, ``device``, ``verbose``.
    """

    _loss = "mse"          # the training loss the task uses
    _data_kind: str | None = None  # None: read the kind from the array's rank (aekit.data.infer_layout)

    # what each parameter may be (aekit.validation); a subclass declares every one of its __init__
    # parameters, starting from these shared ones: {**AutoencoderEstimator._constraints, ...}
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

    # ------------------------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        """Check every parameter against ``_constraints``; ``fit`` calls it first. Subclasses
        extend it (``super()._check_params()`` first) only with rules that tie parameters together."""
        check_params(type(self).__name__, self.get_params(deep=False), self._constraints)

    # ------------------------------------------------------------------------------------ inputs
    def _validate(self, X, *, reset: bool) -> np.ndarray:
        """Check ``X`` and return it as float32 in the model's layout ``(n, *input_shape)``; the data kind
        and layout (:func:`aekit.data.infer_layout`) are learned when ``reset``."""
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                          ensure_min_samples=2 if reset else 1).astype(np.float32, copy=False)
        if reset:
            self.n_batches_ = 1  # a new fit: partial_fit counts on from here
            X, self.layout_ = infer_layout(X, self._data_kind)
            self.sample_shape_, self.channels_last_ = tuple(self.layout_.sample_shape), self.layout_.channels_last
            return X
        if tuple(X.shape[1:]) != self.sample_shape_:
            raise ValueError(f"X has sample shape {tuple(X.shape[1:])}, but {type(self).__name__} was fitted on "
                             f"samples of shape {self.sample_shape_}")
        return self.layout_.to_model(X)

    # ------------------------------------------------------------------------------------ streams
    def _stream_setup(self, stream):
        """For ``fit`` on a stream (:mod:`aekit.data.streaming`): learn the layout from its first rows and
        fit the scaler in one pass over it; returns (the stream scaled and in the model's layout as it is
        read, shuffled for training; the scaler)."""
        from aekit.data import Scaler

        self._check_stream(stream)
        self.n_batches_ = 1
        first = next(stream.chunks(rows=min(1024, len(stream))))
        _, self.layout_ = infer_layout(first, self._data_kind)
        self.sample_shape_, self.channels_last_ = tuple(self.layout_.sample_shape), self.layout_.channels_last
        self.n_features_in_ = int(first.shape[1])  # as scikit-learn counts it: the second axis
        to_model = self.layout_.to_model
        method = self.scaler
        if method == "auto":
            method = "range" if self.layout_.kind == "image" else get_kind(self.layout_.kind).default_scaler().method
        if method == "range":  # the data's range: one pass for the minimum and maximum
            lo, hi = np.inf, -np.inf
            for c in stream.chunks():
                lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise DataError(f"the stream holds NaN or infinite values (minimum {lo}, maximum {hi}); expected "
                                f"finite numbers")
            vr = _image_range(lo, hi) if self.scaler == "auto" else (lo, hi + 1e-12)  # as _make_scaler
            scaler = Scaler("range").fit(to_model(first[:1]), value_range=vr)
        else:
            scaler = (get_kind(self.layout_.kind).default_scaler() if self.scaler == "auto" else Scaler(method))
            scaler.fit_chunks(to_model(c) for c in stream.chunks())
        scaled = stream.with_transform(_ScaledRows(scaler, self.layout_), shuffle=True)
        scaled.sample_shape = tuple(to_model(first[:1]).shape[1:])
        return scaled, scaler

    @staticmethod
    def _is_stream(X) -> bool:
        return isinstance(X, torch.utils.data.IterableDataset)

    def _check_stream(self, stream) -> None:
        if not hasattr(stream, "chunks") or not hasattr(stream, "with_transform"):
            raise TypeError(f"{type(self).__name__}.fit takes arrays or an aekit.data.streaming.ArrayStream; got "
                            f"a {type(stream).__name__}")

    def _write_stream(self, stream, path, fn, *, rows: int = 8192) -> Path:
        """Apply ``fn`` (arrays in the caller's layout -> (n, ...) arrays) to a stream's rows in file order,
        ``rows`` at a time, writing the results into the ``.npy`` file ``path`` as they come (memory-mapped;
        written to a temporary name and renamed at the end, so an interrupted run leaves no partial file)."""
        self._check_fitted()
        self._check_stream(stream)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        out, at = None, 0
        for chunk in stream.chunks(rows=rows):
            res = np.asarray(fn(chunk))
            if out is None:
                out = np.lib.format.open_memmap(tmp, mode="w+", dtype=res.dtype, shape=(len(stream), *res.shape[1:]))
            out[at:at + len(res)] = res
            at += len(res)
        out.flush()
        del out
        os.replace(tmp, path)
        return path

    def _to_user_layout(self, Y: np.ndarray) -> np.ndarray:
        """Inverse of the layout change in :meth:`_validate` (model layout -> the caller's)."""
        return self.layout_.to_user(Y)

    @property
    def _is_image(self) -> bool:
        return self.layout_.kind == "image"

    def _make_scaler(self, X: np.ndarray):
        from aekit.data import Scaler

        method = self.scaler
        if method == "auto":
            if self.layout_.kind != "image":
                return get_kind(self.layout_.kind).default_scaler().fit(X)
            return Scaler("range").fit(X, value_range=_image_range(float(X.min()), float(X.max())))
        if method == "range":
            return Scaler("range").fit(X, value_range=(float(X.min()), float(X.max()) + 1e-12))
        return Scaler(method).fit(X)

    def _model_name(self, input_shape: tuple[int, ...]) -> str:
        if self.model != "auto":
            return self.model
        is_image = len(input_shape) == 3
        return "conv" if is_image and input_shape[1] % 4 == 0 and input_shape[2] % 4 == 0 and input_shape[1] >= 8 \
            else "mlp"

    def _default_model_params(self, name: str, input_shape: tuple[int, ...]) -> dict:
        """Model arguments used unless ``model_params`` overrides them (subclasses adapt them to the task)."""
        if name == "mlp" and len(input_shape) == 1:  # tables: hidden widths that scale with the width
            d = input_shape[0]
            return {"hidden": [min(512, max(32, 2 * d)), min(256, max(16, d))]}
        return {}

    # ------------------------------------------------------------------------------------ training
    def _model_spec(self, input_shape: tuple[int, ...], model_kwargs: dict | None = None) -> ModelSpec:
        """The model to build: the task's defaults, then ``model_kwargs``, then the user's ``model_params``."""
        name = self._model_name(input_shape)
        params = {**self._default_model_params(name, input_shape), **(model_kwargs or {}), **(self.model_params or {})}
        return ModelSpec(name, self._latent_dim(), params)

    def _latent_dim(self) -> int:
        return int(self.latent_dim)

    def _train(self, X: np.ndarray, target: np.ndarray | None = None, *, seeds: Seeds, model=None, scaler="auto",
               objective=None, val=None, corruption=None, augment=None, fields: dict | None = None, callbacks=(),
               epochs: int | None = None, validation_fraction: float | None = None) -> Fitted:
        """Train through :func:`aekit.training.train_autoencoder` with this estimator's budget and split.

        ``model``: a ModelSpec or a model (default: :meth:`_model_spec` for ``X``); ``scaler``: "auto" (the
        ``scaler`` parameter's choice, fitted on ``X``), a scaler, or None; ``fields``: named per-sample arrays
        for the batch records (``{"label": ...}``); ``augment``: the step's ``augment(batch, generator)``;
        ``validation_fraction``: None for the estimator's own."""
        from aekit.training import TrainConfig, train_autoencoder

        config = TrainConfig(epochs=int(epochs or self._epochs()), batch_size=self._batch_size(), lr=float(self.lr),
                             max_time=self.max_time, progress=bool(self.verbose), device=self.device)
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

    def _fit_autoencoder(self, X: np.ndarray, *, seeds: Seeds, model_kwargs: dict | None = None, objective=None,
                         corruption=None, epochs: int | None = None, more: bool = False) -> Fitted:
        """Train an autoencoder on ``X`` (model layout) and keep it: sets ``autoencoder_``, ``history_`` and
        ``n_iter_``. ``corruption`` (a spec or callable; default: the ``corruption`` parameter) corrupts
        training inputs. ``more``: go on training the kept autoencoder with its scaler (``partial_fit``);
        its history grows."""
        from aekit.corruption import make_corruption

        corruption = corruption if corruption is not None else getattr(self, "corruption", None)
        if more:
            kept = self.autoencoder_
            fitted = self._train(X, seeds=seeds, model=kept.model.train(), scaler=kept.scaler, objective=objective,
                                 corruption=make_corruption(corruption), epochs=epochs)
            history = self.history_ + fitted.result.history
            self._keep(fitted, metadata={k: v for k, v in kept.metadata.items() if k != "model"})
            self.history_, self.n_iter_ = history, len(history)
            return fitted
        fitted = self._train(X, seeds=seeds, model=self._model_spec(tuple(X.shape[1:]), model_kwargs),
                             objective=objective, corruption=make_corruption(corruption), epochs=epochs)
        self._keep(fitted)
        return fitted

    def _next_batch_seeds(self) -> Seeds:
        """Seeds of the next ``partial_fit`` call, counted in ``n_batches_`` (``fit`` is batch 0)."""
        from aekit.seeding import resolve_seeds

        self.n_batches_ = getattr(self, "n_batches_", 1) + 1   # 1 after a reload: the seeds may repeat
        return resolve_seeds(self.random_state).batch(self.n_batches_ - 1)

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
        """JSON-able learned state beyond the model and scaler (subclasses extend it)."""
        return {"sample_shape_": list(self.sample_shape_), "channels_last_": self.channels_last_,
                "layout_": self.layout_.to_dict(),
                "n_features_in_": int(self.n_features_in_), "history_": self.history_, "n_iter_": self.n_iter_}

    def _set_state(self, state: dict) -> None:
        self.sample_shape_ = tuple(state["sample_shape_"])
        self.channels_last_ = bool(state["channels_last_"])
        s = self.sample_shape_
        self.layout_ = Layout.from_dict(state["layout_"]) if "layout_" in state else Layout(  # 0.1.0 folders
            "table" if len(s) == 1 else "image", s, add_channel=len(s) == 2, channels_last=self.channels_last_)
        self.n_features_in_ = int(state["n_features_in_"])
        self.history_, self.n_iter_ = state["history_"], state["n_iter_"]

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        """Learned tensors beyond the autoencoder's weights (a classification head, ...)."""
        return {}

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the fitted estimator as a model folder (``kind: "estimator"``); :func:`aekit.load` reads it back."""

        self._check_fitted()
        params = json.loads(json.dumps(self.get_params(deep=False), default=_json_param))
        meta = {**self.autoencoder_.metadata, "estimator": {"class": self.name, "params": params,
                                                            "state": _jsonable(self._get_state())}}
        return save_model(directory, self.autoencoder_.model, scaler=self.autoencoder_.scaler, metadata=meta,
                          extra=self._get_tensors(), kind="estimator")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "AutoencoderEstimator":
        """Read a folder written by :meth:`save` (of this class, or of any estimator when called on the base)."""
        est = load_estimator(directory)
        if cls is not AutoencoderEstimator and not isinstance(est, cls):
            raise ModelFileError(f"{directory} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def load_estimator(directory: str | os.PathLike) -> AutoencoderEstimator:
    """Rebuild the estimator saved in ``directory`` by ``estimator.save(directory)``."""
    trained = load_autoencoder(directory)
    info = trained.metadata.get("estimator")
    if not isinstance(info, dict) or "class" not in info:
        raise ModelFileError(f"{directory} holds an autoencoder, not an estimator (it was written by `aekit train` "
                             "or save_model); aekit.load opens both kinds")
    try:
        cls = _ESTIMATORS.get(info["class"])
        est = cls(**info.get("params", {}))
        est._set_state(info.get("state", {}))
        est._set_tensors(trained.extra)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:  # a JSON tree of the wrong shape
        raise ModelFileError(f"{directory}: cannot rebuild the {info.get('class')!r} estimator ({exc})") from None
    est.autoencoder_ = trained
    return est


def _json_param(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (tuple, np.ndarray)):
        return list(obj)
    return None  # a RandomState or a callable corruption cannot be saved; it does not affect a fitted model


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


