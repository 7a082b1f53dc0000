"""What every task estimator shares: input checks, scaling, building and training the autoencoder, and
saving to / loading from the model-folder format (``config.json`` + ``model.safetensors``, no pickle).

Subclasses store their constructor arguments unchanged (scikit-learn rule: ``__init__`` validates
nothing) and call :meth:`AutoencoderEstimator._fit_autoencoder` from ``fit``. Inputs may be tables
``(n_samples, n_features)`` or images ``(n, H, W)``, ``(n, C, H, W)`` or channels-last ``(n, H, W, C)``;
outputs come back in the caller's layout.
"""
from __future__ import annotations

import json
import numbers
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from aekit.registry import Registry

_ESTIMATORS: Registry[type["AutoencoderEstimator"]] = Registry("estimator")


def register_estimator(name: str):
    """Class decorator: :func:`load_estimator` rebuilds folders saved by this class."""
    return _ESTIMATORS.register(name)


def _seed(random_state) -> int:
    """An int seed from scikit-learn's ``random_state`` (None, int or RandomState)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _positive_int(owner: str, **values) -> None:
    for key, value in values.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}: {key}={value!r} must be a positive integer")


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

    # ------------------------------------------------------------------------------------ inputs
    def _validate(self, X, *, reset: bool) -> np.ndarray:
        """Check ``X`` and return it as float32 in the model's layout ``(n, *input_shape)``."""
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                          ensure_min_samples=2 if reset else 1)
        if X.ndim > 4:
            raise ValueError(f"X has shape {X.shape}; expected (n_samples, n_features) or images "
                             "(n, H, W), (n, C, H, W) or (n, H, W, C)")
        if reset:
            self.sample_shape_ = tuple(int(s) for s in X.shape[1:])
            self.channels_last_ = bool(X.ndim == 4 and X.shape[1] not in (1, 2, 3, 4) and X.shape[3] in (1, 3, 4))
        elif tuple(X.shape[1:]) != self.sample_shape_:
            raise ValueError(f"X has sample shape {tuple(X.shape[1:])}, but {type(self).__name__} was fitted on "
                             f"samples of shape {self.sample_shape_}")
        X = X.astype(np.float32, copy=False)
        if X.ndim == 3:
            X = X[:, None]                                   # (n, 1, H, W)
        elif X.ndim == 4 and self.channels_last_:
            X = X.transpose(0, 3, 1, 2)                      # (n, C, H, W)
        return np.ascontiguousarray(X)

    def _to_user_layout(self, Y: np.ndarray) -> np.ndarray:
        """Inverse of the layout change in :meth:`_validate` (model layout -> the caller's)."""
        if len(self.sample_shape_) == 2:
            return Y.reshape(len(Y), *self.sample_shape_)
        if len(self.sample_shape_) == 3 and self.channels_last_:
            return Y.transpose(0, 2, 3, 1)
        return Y

    @property
    def _is_image(self) -> bool:
        return len(self.sample_shape_) >= 2

    def _make_scaler(self, X: np.ndarray):
        from aekit.data import Scaler

        method = self.scaler
        if method == "auto":
            if not self._is_image:
                return Scaler("minmax").fit(X)
            lo, hi = float(X.min()), float(X.max())
            # [0, 1] images stay as they are; others map [0, max] (e.g. 0..255 or 0..16) to [0, 1]
            vr = (0.0, hi if hi > 1.0 else 1.0) if lo >= 0 else (lo, hi if hi > lo else lo + 1.0)
            return Scaler("range").fit(X, value_range=vr)
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
    def _fit_autoencoder(self, X: np.ndarray, target: np.ndarray | None = None, *, corruption=None,
                         model_kwargs: dict | None = None, loss: str | None = None, callbacks=(),
                         scale_target: bool = True, init_from=None):
        """Scale ``X`` (model layout), build the model and train it; sets ``autoencoder_``, ``history_``,
        ``n_iter_``. ``target`` (same layout) replaces the input as the training target; ``corruption`` (a spec
        or a callable; default: the ``corruption`` parameter) corrupts training inputs; ``init_from``
        (a model, folder or fitted estimator) seeds the layers that match."""
        from aekit.corruption import make_corruption
        from aekit.persistence import TrainedAutoencoder

        owner = type(self).__name__
        _positive_int(owner, latent_dim=self.latent_dim, epochs=self.epochs, batch_size=self.batch_size)
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"{owner}: validation_fraction={self.validation_fraction!r} must be in [0, 1)")
        if self.model_params is not None and not isinstance(self.model_params, dict):
            raise TypeError(f"{owner}: model_params must be a dict of model arguments, got "
                            f"{type(self.model_params).__name__}")
        model, scaler, x = self._build_autoencoder(X, model_kwargs)
        y = None if target is None else (scaler.transform(target).astype(np.float32) if scale_target else target)
        if init_from is not None:
            from aekit.models import transfer_weights

            transfer_weights(init_from, model, parts=("encoder", "decoder"))
        corruption = corruption if corruption is not None else getattr(self, "corruption", None)
        if isinstance(corruption, str):  # a spec such as "gaussian:0.3"; callables are used as they are
            corruption = make_corruption(corruption)
        result = self._train_module(model, x, y, loss=loss or self._loss, callbacks=callbacks, corruption=corruption)
        self.autoencoder_ = TrainedAutoencoder(model.cpu().eval(), scaler, metadata={"model": model.name})
        self.history_ = result.history
        self.n_iter_ = len(result.history)
        return result

    def _build_autoencoder(self, X: np.ndarray, model_kwargs: dict | None = None):
        """The fitted scaler, the scaled data and the untrained model: (model, scaler, x_scaled)."""
        from aekit.models import create_model

        scaler = self._make_scaler(X)
        x = scaler.transform(X).astype(np.float32)
        input_shape = tuple(x.shape[1:])
        name = self._model_name(input_shape)
        kwargs = {**self._default_model_params(name, input_shape), **(model_kwargs or {}), **(self.model_params or {})}
        with torch.random.fork_rng():
            torch.manual_seed(_seed(self.random_state))
            model = create_model(name, input_shape=input_shape, latent_dim=int(self.latent_dim), **kwargs)
        return model, scaler, x

    def _train_module(self, model, x: np.ndarray, y: np.ndarray | None, *, loss: str, corruption=None,
                      callbacks=(), epochs: int | None = None, lr: float | None = None):
        """Train ``model`` on (x, y) with the estimator's budget; a ``validation_fraction`` of the samples
        (when there are at least 20) is held out for early stopping. Returns the TrainResult."""
        seed = _seed(self.random_state)
        train_idx, val_idx = split_validation(len(x), self.validation_fraction, seed, type(self).__name__)
        train = x[train_idx] if y is None else (x[train_idx], y[train_idx])
        val = None if len(val_idx) == 0 else (x[val_idx] if y is None else (x[val_idx], y[val_idx]))
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return self._run_trainer(model, train, val, loss=loss, seed=seed, corruption=corruption,
                                     callbacks=callbacks, epochs=epochs, lr=lr)

    def _run_trainer(self, model, train, val, *, loss: str, seed: int, corruption=None, callbacks=(),
                     epochs: int | None = None, lr: float | None = None):
        """One Trainer run with the estimator's budget on ``train`` (x or (x, y)), early stopping on ``val``
        when given. The caller controls torch's global random state around it."""
        from aekit.training import TrainConfig, Trainer

        n_train = len(train[0] if isinstance(train, tuple) else train)
        config = TrainConfig(epochs=int(epochs or self.epochs), batch_size=int(min(self.batch_size, n_train)),
                             lr=float(lr or self.lr), max_time=self.max_time, loss=loss, random_state=seed,
                             progress=bool(self.verbose), device=self.device,
                             early_stopping=10 if val is not None else None)
        return Trainer(model, config, corruption=corruption, callbacks=callbacks).fit(train, val)

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
                "n_features_in_": int(self.n_features_in_), "history_": self.history_, "n_iter_": self.n_iter_}

    def _set_state(self, state: dict) -> None:
        self.sample_shape_ = tuple(state["sample_shape_"])
        self.channels_last_ = bool(state["channels_last_"])
        self.n_features_in_ = int(state["n_features_in_"])
        self.history_, self.n_iter_ = state["history_"], state["n_iter_"]

    def _get_tensors(self) -> dict[str, torch.Tensor]:
        """Learned tensors beyond the autoencoder's weights (a classification head, ...)."""
        return {}

    def _set_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the fitted estimator as a model folder; :func:`aekit.load_estimator` reads it back."""
        from aekit.persistence import save_model

        self._check_fitted()
        params = json.loads(json.dumps(self.get_params(deep=False), default=_json_param))
        meta = {**self.autoencoder_.metadata, "estimator": {"class": self.name, "params": params,
                                                            "state": _jsonable(self._get_state())}}
        return save_model(directory, self.autoencoder_.model, scaler=self.autoencoder_.scaler, metadata=meta,
                          extra=self._get_tensors())

    @classmethod
    def load(cls, directory: str | os.PathLike) -> "AutoencoderEstimator":
        """Read a folder written by :meth:`save` (of this class, or of any estimator when called on the base)."""
        est = load_estimator(directory)
        if cls is not AutoencoderEstimator and not isinstance(est, cls):
            from aekit.persistence import ModelFileError
            raise ModelFileError(f"{directory} holds a {type(est).__name__}, not a {cls.__name__}")
        return est

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def split_validation(n: int, fraction: float, seed: int, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx): ``fraction`` of ``n`` held out when there are at least 20 samples."""
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"{owner}: validation_fraction={fraction!r} must be in [0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(fraction * n)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def load_estimator(directory: str | os.PathLike) -> AutoencoderEstimator:
    """Rebuild the estimator saved in ``directory`` by ``estimator.save(directory)``."""
    from aekit.persistence import ModelFileError, load

    trained = load(directory)
    info = trained.metadata.get("estimator")
    if not isinstance(info, dict) or "class" not in info:
        raise ModelFileError(f"{directory} holds a model but no estimator (it was written by `aekit train` or "
                             "save_model); load it with aekit.load instead")
    try:
        cls = _ESTIMATORS.get(info["class"])
        est = cls(**info.get("params", {}))
        est._set_state(info.get("state", {}))
        est._set_tensors(trained.extra)
    except (TypeError, ValueError, KeyError) as exc:
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
