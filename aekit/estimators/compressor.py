"""Lossy compression with a learned codec: an autoencoder whose code is quantised and entropy-coded.

Training follows Ballé, Laparra & Simoncelli, "End-to-end optimized image compression", ICLR 2017
(arxiv 1611.01704): additive uniform noise stands in for rounding and the loss adds the rate under a
learned per-unit density (see aekit/models/compressive.py). After training, the coding tables are the
histograms of the rounded training codes (smoothed by the learned density), and streams are written by
aekit.codec (constriction's range coder, a versioned header with a model id, a checksum).
"""
from __future__ import annotations

import numpy as np
import torch
from sklearn.base import TransformerMixin

from aekit.codec import CodecError, EntropyTables, decode_symbols, encode_symbols, model_id, pack_stream, \
    unpack_stream
from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.estimators._tables import TablesInFolder
from aekit.seeding import resolve_seeds
from aekit.validation import Integer, Real, check_params
from aekit.operations import Operation


@register_estimator("compressor")
class Compressor(TablesInFolder, TransformerMixin, AutoencoderEstimator):
    """Learn a codec for images or tables: ``compress(X)`` gives one byte stream per sample.

    Parameters
    ----------
    latent_dim : int, default 32
        Number of code units (each quantised to an integer and entropy-coded).
    rate_weight : float, default 0.01
        The rate/quality knob used in training: the loss is ``mse + rate_weight * bits per input value``
        (inputs scaled to [0, 1]); larger values give smaller streams and lower quality.
    step : float, default 1.0
        Quantisation step of the code (in the units the model was trained with, where 1 is the training
        step); larger steps give smaller streams and lower quality.
    refine : int, default 0
        Encoder-side optimisation steps per item (an encoding-time knob: the decoder and the stream format
        are unchanged). The code of each item is refined by Adam on its own loss, distortion +
        ``rate_weight`` * bits per value, with rounding passed straight through for the distortion and the
        learned density giving the rate (Campos et al., "Content adaptive optimization for neural image
        compression", CVPR-W 2019, arxiv 1906.01223; Yang, Bamler & Mandt, "Improving inference for neural
        image compression", NeurIPS 2020, arxiv 2006.04240); an item keeps its refined code only where that
        lowers its loss under the coding tables. 0: the encoder's code, rounded.
    model : str, default "auto"
        "compressive-conv" for images whose sides divide by 4, else "compressive-mlp"; or either name.
    model_params : dict, optional
        Extra model arguments, e.g. ``{"channels": [32, 64], "components": 3}``.
    epochs, batch_size, lr, max_time : training budget (``max_time`` in seconds, optional).
    validation_fraction : float, default 0.1
        Held out for early stopping (when there are at least 20 samples).
    scaler : {"auto", "minmax", "standard", "range", "none"}, default "auto"
    random_state : int, RandomState or None, default 0
    device : str, default "cpu"
    verbose : bool, default False

    Attributes
    ----------
    autoencoder_ : aekit.TrainedAutoencoder
    entropy_tables_ : aekit.codec.EntropyTables
        Per code unit, the symbol range and its probabilities.
    data_range_ : (float, float) or None
        The training data's smallest and largest value; inputs with NaN, inf or values more than
        ``RANGE_MARGIN`` of its width outside it are refused (None for folders saved before it was recorded).
    history_, n_iter_, n_features_in_, sample_shape_

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import Compressor
    >>> X = load_digits().images                       # (1797, 8, 8), values 0..16
    >>> codec = Compressor(latent_dim=8, epochs=3).fit(X[:300])
    >>> streams = codec.compress(X[:5])
    >>> codec.decompress(streams).shape
    (5, 8, 8)
    """

    corruption = None  # the base class's training corruption: none for a codec
    RANGE_MARGIN = 0.25  # inputs may exceed the training data's range by this fraction of its width

    _constraints = {**AutoencoderEstimator._constraints,
                              "rate_weight": Real(0), "step": Real(0, closed="neither"), "refine": Integer(0)}

    purpose, operations = "compression", (   # what aekit apply, serve and the explorer offer (aekit.operations)
        Operation("compress", "samples", ("stream",), "one .aek stream per sample", "compress"),
        Operation("decompress", "streams", ("reconstruction",), "samples from .aek streams, raw units", "decompress"),
        Operation("reconstruct", "samples", ("reconstruction",), "decoded reconstructions, raw units", "reconstruct"),
        Operation("encode", "samples", ("code",), "the quantised codes", "transform"))

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    _conformance = {"data": "images", "params": {"latent_dim": 4, "epochs": 2},
                    "sklearn": [{"latent_dim": 4, "model_params": {"hidden": [16]}, "epochs": 3, "batch_size": 32}]}

    def __init__(self, latent_dim: int = 32, *, rate_weight: float = 0.01, step: float = 1.0, refine: int = 0,
                 model: str = "auto",
                 model_params: dict | None = None, epochs: int = 50, batch_size: int = 64, lr: float = 2e-3,
                 max_time: float | None = None, validation_fraction: float = 0.1, scaler: str = "auto",
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.rate_weight = rate_weight
        self.step = step
        self.refine = refine
        self.model = model
        self.model_params = model_params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.validation_fraction = validation_fraction
        self.scaler = scaler
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------------------------ fitting
    def _model_name(self, input_shape: tuple[int, ...]) -> str:
        if self.model == "auto":
            name = "conv" if super()._model_name(input_shape) == "conv" else "mlp"
            return f"compressive-{name}"
        from aekit.models import model_class
        from aekit.models.compressive import Compressive

        if not issubclass(model_class(self.model), Compressive):
            raise ValueError(f"Compressor: model={self.model!r} has no entropy model; use 'auto', "
                             "'compressive-conv' or 'compressive-mlp'")
        return self.model

    def _default_model_params(self, name: str, input_shape: tuple[int, ...]) -> dict:
        if name == "compressive-mlp" and len(input_shape) == 1:
            return super()._default_model_params("mlp", input_shape)
        return {}

    def fit(self, X, y=None):
        """Train the autoencoder with its rate term on ``X`` and fit the coding tables; returns ``self``."""
        self._check_params()
        x = self._validate(X, reset=True)
        self.data_range_ = (float(x.min()), float(x.max()))
        self._fit_autoencoder(x, seeds=resolve_seeds(self.random_state),
                              model_kwargs={"rate_weight": float(self.rate_weight)})
        self._fit_tables(x)
        return self

    def partial_fit(self, X, y=None):
        """Go on training on a new batch ``X`` (the first call fits), as :meth:`aekit.Reducer.partial_fit`
        does, then refit the coding tables on ``X``: streams encoded afterwards need the new tables (a
        stream names the tables it was written with only through the saved model). Returns ``self``."""
        if not hasattr(self, "autoencoder_"):
            return self.fit(X)
        self._check_params()
        x = self._validate(X, reset=False)
        lo, hi = self.data_range_
        self.data_range_ = (min(lo, float(x.min())), max(hi, float(x.max())))
        self._fit_autoencoder(x, seeds=self._next_batch_seeds(), more=True)
        self._fit_tables(x)
        return self

    def fit_tables(self, X) -> "Compressor":
        """Refit only the coding tables on ``X`` for the current ``step`` (after ``set_params(step=...)``),
        keeping the trained network: a cheap way to move along the rate/quality curve. Returns ``self``."""
        self._check_fitted()
        check_params(type(self).__name__, {"step": self.step}, self._constraints)
        self._fit_tables(self._validate(X, reset=False))
        return self

    def _fit_tables(self, x: np.ndarray) -> None:
        density = self.autoencoder_.model.density
        step = float(self.step)

        def prior(values, unit):  # learned density's mass of each quantisation bin
            v = torch.as_tensor(values, dtype=torch.float32)[:, None].expand(-1, self.autoencoder_.model.latent_dim)
            with torch.no_grad():
                mass = density.cdf((v + 0.5) * step) - density.cdf((v - 0.5) * step)
            return mass[:, unit].double().clamp(min=1e-12).numpy()

        self.entropy_tables_ = EntropyTables.fit(self._symbols(x), prior=prior)

    # ------------------------------------------------------------------------------------ codes
    def _symbols(self, x: np.ndarray) -> np.ndarray:
        """Integer symbols (n, k) of inputs in the model's layout, before clipping to the tables."""
        codes = self._encode(x).reshape(len(x), -1)
        return np.round(codes / float(self.step)).astype(np.int64)

    def transform(self, X) -> np.ndarray:
        """Quantised codes of ``X``: (n_samples, latent_dim) integers (as float32) in the tables' ranges
        (refined by ``refine`` optimisation steps per item when ``refine > 0``)."""
        self._check_fitted()
        self._check_values(X)
        x = self._validate(X, reset=False)
        symbols = self.entropy_tables_.clip(self._symbols(x))
        if self.refine:
            symbols = self._refine(x, symbols)
        return symbols.astype(np.float32)

    def _check_values(self, X) -> None:
        """Refuse NaN, inf and values clearly outside the training range: the code of such an input is
        clipped to the coding tables and decodes to something unrelated to it."""
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            return  # not numbers: _validate says what is wrong
        with np.errstate(over="ignore"):
            arr = arr.astype(np.float32)   # what the model would see: beyond float32, inf
        name, known = type(self).__name__, getattr(self, "data_range_", None)
        trained = "" if known is None else f" (trained on values in [{known[0]:g}, {known[1]:g}])"
        n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        if n_nan or n_inf:
            raise ValueError(f"{name}: X holds {n_nan} NaN and {n_inf} infinite value(s); a codec codes finite "
                             f"values{trained}")
        if known is None or arr.size == 0:
            return
        margin = self.RANGE_MARGIN * max(known[1] - known[0], 1e-12)
        lo, hi = known[0] - margin, known[1] + margin
        seen = (float(arr.min()), float(arr.max()))
        if seen[0] < lo or seen[1] > hi:
            raise ValueError(f"{name}: X holds values in [{seen[0]:g}, {seen[1]:g}], outside the range this codec "
                             f"accepts, [{lo:g}, {hi:g}]{trained}; scale the inputs as the training data was")

    def _item_loss(self, xs: torch.Tensor, symbols: np.ndarray) -> np.ndarray:
        """Per item: mean squared error (model units) + rate_weight * coded bits (tables) per value."""
        model = self.autoencoder_.model
        with torch.no_grad():
            rec = model.decode(torch.as_tensor(symbols, dtype=torch.float32) * float(self.step))
            mse = ((rec - xs) ** 2).flatten(1).mean(1).double().numpy()
        return mse + float(self.rate_weight) * self.entropy_tables_.entropy_bits(symbols) / xs[0].numel()

    def _refine(self, x: np.ndarray, symbols: np.ndarray, batch_size: int = 1000, lr: float = 0.05) -> np.ndarray:
        check_params(type(self).__name__, {"refine": self.refine}, self._constraints)
        ae = self.autoencoder_
        model, step, weight = ae.model, float(self.step), float(self.rate_weight)
        t = self.entropy_tables_
        low, high = torch.as_tensor(t.low, dtype=torch.float32), torch.as_tensor(t.high, dtype=torch.float32)
        xs_all = x if ae.scaler is None else ae.scaler.transform(x)
        out = symbols.copy()
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            for i in range(0, len(x), batch_size):
                xs = torch.as_tensor(np.asarray(xs_all[i:i + batch_size], dtype=np.float32))
                with torch.no_grad():
                    y0 = model.encode(xs) / step
                y = y0.clone().requires_grad_(True)
                opt = torch.optim.Adam([y], lr=lr)
                for _ in range(self.refine):
                    yc = torch.maximum(torch.minimum(y, high), low)
                    yq = yc + (torch.round(yc) - yc).detach()          # rounding, passed straight through
                    rec = model.decode(yq * step)
                    mse = ((rec - xs) ** 2).flatten(1).mean(1)
                    mass = model.density.cdf((yc + 0.5) * step) - model.density.cdf((yc - 0.5) * step)
                    bits = -torch.log2(mass.clamp(min=1e-9)).sum(1)
                    loss = (mse + weight * bits / xs[0].numel()).sum()
                    opt.zero_grad()
                    loss.backward()   # the one backward() outside the Trainer's step: this code, not weights
                    opt.step()
                cand = t.clip(np.round(y.detach().numpy()).astype(np.int64))
                old = out[i:i + batch_size]
                better = self._item_loss(xs, cand) < self._item_loss(xs, old)
                out[i:i + batch_size] = np.where(better[:, None], cand, old)
        finally:
            for p in model.parameters():
                p.requires_grad_(True)
        return out

    def inverse_transform(self, X) -> np.ndarray:
        """Decode quantised codes back to samples shaped like the training data (raw units)."""
        self._check_fitted()
        q = np.asarray(X, dtype=np.float32)
        k = len(self.entropy_tables_.low)
        if q.ndim != 2 or q.shape[1] != k:
            raise ValueError(f"inverse_transform expects quantised codes of shape (n_samples, {k}), got {q.shape}")
        return self._to_user_layout(self._decode(q * np.float32(self.step)))

    def reconstruct(self, X) -> np.ndarray:
        """What ``decompress(compress(X))`` returns, without the entropy coding."""
        return self.inverse_transform(self.transform(X))

    def score(self, X, y=None) -> float:
        """Negative mean squared error of the quantised reconstruction, raw units (higher is better)."""
        self._check_fitted()
        x = self._validate(X, reset=False)
        return -float(np.mean((self._validate(self.reconstruct(X), reset=False) - x) ** 2))

    # ------------------------------------------------------------------------------------ streams
    @property
    def model_id(self) -> bytes:
        """4 bytes that identify the model, its tables, step and sample shape; written into every stream."""
        self._check_fitted()
        state = self.autoencoder_.model.state_dict()
        arrays = [state[key].detach().cpu().numpy() for key in sorted(state)]
        t = self.entropy_tables_
        extra = repr((float(self.step), tuple(self.sample_shape_), self.channels_last_)).encode()
        return model_id(*arrays, t.low, t.probs, extra=extra)

    def compress(self, X) -> list[bytes]:
        """One self-contained byte stream per sample of ``X`` (header, entropy-coded code, checksum)."""
        return self.encode_codes(self.transform(X))

    def encode_codes(self, Q) -> list[bytes]:
        """The streams of quantised codes ``Q`` from :meth:`transform` (``compress(X)`` is
        ``encode_codes(transform(X))``)."""
        self._check_fitted()
        symbols = np.asarray(Q)
        if symbols.ndim != 2 or symbols.shape[1] != len(self.entropy_tables_.low) or \
                not np.array_equal(symbols, np.round(symbols)):
            raise ValueError(f"encode_codes expects integer codes of shape (n_samples, "
                             f"{len(self.entropy_tables_.low)}) from transform, got {symbols.shape}")
        symbols = symbols.astype(np.int64)
        if not np.array_equal(self.entropy_tables_.clip(symbols), symbols):
            raise ValueError("encode_codes: codes outside the coding tables' ranges (use transform's output)")
        mid = self.model_id
        return [pack_stream(encode_symbols(row, self.entropy_tables_), model=mid)
                for row in symbols]

    def decode_streams(self, streams) -> np.ndarray:
        """The quantised codes (n, latent_dim) held by ``streams``; raises CodecError for a bad stream."""
        self._check_fitted()
        if isinstance(streams, (bytes, bytearray)):
            raise TypeError("decompress expects a list of streams (one per sample); wrap a single stream in a list")
        mid, tables = self.model_id, self.entropy_tables_
        rows = []
        for i, stream in enumerate(streams):
            try:
                _, payload = unpack_stream(stream, model=mid, shape=self.sample_shape_)
                rows.append(decode_symbols(payload, tables))
            except CodecError as exc:
                raise CodecError(f"stream {i}: {exc}") from None
        if not rows:
            raise ValueError("decompress got no streams")
        return np.stack(rows).astype(np.float32)

    def decompress(self, streams) -> np.ndarray:
        """Samples (raw units, the training data's layout) from streams written by :meth:`compress`."""
        return self.inverse_transform(self.decode_streams(streams))

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        return {**super()._get_state(), "data_range_": self.data_range_}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        known = state.get("data_range_")   # absent in folders saved before it was recorded
        self.data_range_ = None if known is None else (float(known[0]), float(known[1]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
