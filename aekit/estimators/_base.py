"""The fixed-shape family: estimators whose samples all have one shape (table rows, images of one size,
windows of one length), given as arrays or streams.

Inputs may be tables ``(n_samples, n_features)`` or images ``(n, H, W)``, ``(n, C, H, W)`` or channels-last
``(n, H, W, C)`` (or, with ``_data_kind = "sequence"``, sequences ``(n, T)`` / ``(n, C, T)``); the fitted
``layout_`` (:func:`aekit.data.infer_layout`) maps them to the model's layout, and outputs come back in the
caller's. The root of every estimator, the registry and the loader are in :mod:`aekit.estimators._core`
(re-exported here, where the estimators import them from).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.utils.validation import validate_data

from aekit.data import DataError, Layout, get_kind, infer_layout
from aekit.estimators._core import (VALIDATION_FRACTION, Estimator, estimator_class, list_estimators,  # noqa: F401
                                    load_estimator, register_estimator)
from aekit.estimators._image import is_8bit_candidate, range_rule
from aekit.estimators._state import BOOL, INT, LAYOUT, TUPLE, or_else
from aekit.seeding import Seeds
from aekit.training.fitting import Fitted


def _old_layout(est) -> Layout:
    """The layout of a folder of aekit 0.1.0 (saved before ``layout_``): from the sample shape."""
    s = est.sample_shape_
    return Layout("table" if len(s) == 1 else "image", s, add_channel=len(s) == 2, channels_last=est.channels_last_)


class _ScaledRows:
    """A stream's transform: raw rows -> the model's layout, scaled (picklable, for DataLoader workers)."""

    def __init__(self, scaler, layout: Layout):
        self.scaler, self.layout = scaler, layout

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.scaler.transform(self.layout.to_model(rows)).astype(np.float32)


class AutoencoderEstimator(Estimator):
    """Base of the estimators of fixed-shape samples (see the module docstring); not used directly.

    Parameters shared by every subclass (each subclass lists them in its own ``__init__``):
    ``model`` ("auto": ``conv`` for images whose sides divide by 4, else ``mlp``), ``latent_dim``,
    ``model_params`` (extra model arguments), ``epochs``, ``batch_size``, ``lr``, ``max_time`` (seconds),
    ``validation_fraction`` (held out for early stopping when there are at least 20 samples),
    ``scaler`` ("auto": a fixed range for images (:func:`aekit.estimators._image.range_rule`), per-feature
    min/max for tables), ``random_state``, ``device``, ``verbose``.
    """

    _family_base = True
    _data_kind: str | None = None  # None: read the kind from the array's rank (aekit.data.infer_layout)
    _fitted = {"sample_shape_": TUPLE, "channels_last_": BOOL, "layout_": or_else(LAYOUT, _old_layout),
               "n_features_in_": INT, **Estimator._fitted}

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
        if method == "range":  # the data's range: one pass for the minimum, the maximum and whole numbers
            lo, hi, whole = np.inf, -np.inf, self.scaler == "auto"
            for c in stream.chunks():
                lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
                whole = whole and np.array_equal(c, np.round(c))
            if not (np.isfinite(lo) and np.isfinite(hi)):
                raise DataError(f"the stream holds NaN or infinite values (minimum {lo}, maximum {hi}); expected "
                                f"finite numbers")
            vr = range_rule(lo, hi, whole) if self.scaler == "auto" else (lo, hi + 1e-12)  # as _make_scaler
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

    def _write_stream(self, stream, path, fn) -> Path:
        """Apply ``fn`` (arrays in the caller's layout -> (n, ...) arrays) to a stream's rows in file order, a
        piece at a time, writing the results into the ``.npy`` file ``path`` as they come
        (:func:`aekit.data.sources.write_rows`: memory-mapped, renamed into place at the end)."""
        from aekit.data.sources import write_rows

        self._check_fitted()
        self._check_stream(stream)
        write_rows(path, stream, fn)
        return Path(path)

    def _to_user_layout(self, Y: np.ndarray) -> np.ndarray:
        """Inverse of the layout change in :meth:`_validate` (model layout -> the caller's)."""
        return self.layout_.to_user(Y)

    @property
    def _is_image(self) -> bool:
        return self.layout_.kind == "image"

    def _make_scaler(self, X: np.ndarray):
        """The ``scaler`` parameter's scaler fitted on ``X`` (model layout); "auto": the kind's default, and for
        images the range of :func:`aekit.estimators._image.range_rule`."""
        from aekit.data import Scaler

        method = self.scaler
        if method == "auto":
            if self.layout_.kind != "image":
                return get_kind(self.layout_.kind).default_scaler().fit(X)
            lo, hi = float(X.min()), float(X.max())
            return Scaler("range").fit(X, value_range=range_rule(lo, hi, is_8bit_candidate(lo, hi)
                                                                 and np.array_equal(X, np.round(X))))
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

