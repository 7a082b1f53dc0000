"""Classification with few labels: pre-train an autoencoder on all the data (labelled or not), put a
classification head on its encoder and fine-tune it on the labelled samples.

Erhan et al., "Why does unsupervised pre-training help deep learning?", JMLR 2010; the comparison with the
same network trained from scratch is ``EncoderClassifier(pretrain=False)``.
"""
from __future__ import annotations

import copy
import os

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y
from torch import nn

from aekit.estimators._base import AutoencoderEstimator, register_estimator
from aekit.seeding import Seeds, resolve_seeds, torch_seeded
from aekit.persistence import TrainedAutoencoder, load_autoencoder
from aekit.models.base import Autoencoder, ModelOutput
from aekit.validation import Boolean, Instance, Integer, NoneOr, Real


class _EncoderWithHead(Autoencoder):
    """The encoder of an autoencoder + a small MLP head; its output's ``pre_output`` holds the class logits
    (B, K), which the ``"classification"`` objective scores against class indices."""

    def __init__(self, encoder: nn.Module, head: nn.Module, num_classes: int, input_shape):
        super().__init__(input_shape=input_shape, latent_dim=1, output_activation=None)
        self.encoder, self.head, self.num_classes = encoder, head, num_classes
        self.decoder = nn.Identity()

    def forward(self, x: torch.Tensor) -> ModelOutput:
        code = self.encoder(x).flatten(1)              # (B, k)
        logits = self.head(code)                       # (B, K)
        return ModelOutput(logits, code, logits, {}, {})


def _head(code_dim: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    if hidden == 0:
        return nn.Sequential(nn.Linear(code_dim, num_classes))
    return nn.Sequential(nn.Linear(code_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))


@register_estimator("encoder-classifier")
class EncoderClassifier(ClassifierMixin, AutoencoderEstimator):
    """A classifier whose body is an autoencoder's encoder, pre-trained without labels.

    Parameters
    ----------
    latent_dim : int, default 32
        Code size of the autoencoder (ignored when ``encoder`` is given).
    encoder : str, path, fitted estimator or aekit.load() result, optional
        A trained autoencoder to start from (its scaler is reused). None: pre-train one on ``X`` and the
        ``X_unlabeled`` given to :meth:`fit` (when ``pretrain=True``).
    pretrain : bool, default True
        False: the same network from random weights (the from-scratch baseline).
    freeze_encoder : bool, default False
        Train only the head (a linear / MLP probe) instead of fine-tuning the encoder too.
    head_epochs : int, default 0
        Epochs that train the head alone (encoder frozen) before the whole network is fine-tuned, so a
        random head does not distort the pre-trained features (Kumar et al., "Fine-Tuning can Distort
        Pretrained Features and Underperform Out-of-Distribution", ICLR 2022: linear probe, then fine-tune).
    head_hidden : int, default 128
        Width of the head's hidden layer (0: a linear head).
    dropout : float, default 0.2
        Dropout in the head.
    pretrain_epochs : int, default 30
        Autoencoder epochs before fine-tuning.
    epochs, batch_size, lr : budget of the fine-tuning (the pre-training uses ``pretrain_epochs``).
    model, model_params, max_time, validation_fraction, scaler, random_state, device, verbose :
        as in :class:`aekit.Reducer`.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    autoencoder_ : aekit.TrainedAutoencoder
        The autoencoder whose encoder (fine-tuned) is the classifier's body.
    head_ : torch.nn.Module
    pretrain_history_, history_ : list of dict
        Per-epoch losses of the pre-training and of the fine-tuning.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import EncoderClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EncoderClassifier(latent_dim=16, pretrain_epochs=10, epochs=3).fit(X[:100], y[:100], X_unlabeled=X)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _constraints = {
        **AutoencoderEstimator._constraints,
        "encoder": NoneOr(Instance(str, bytes, os.PathLike, AutoencoderEstimator, TrainedAutoencoder, nn.Module,
                                   what="a model folder, a fitted estimator, an aekit.load() result or a model")),
        "pretrain": Boolean(),
        "freeze_encoder": Boolean(),
        "head_epochs": Integer(0),
        "head_hidden": Integer(0),
        "dropout": Real(0, 1, closed="left"),
        "pretrain_epochs": Integer(1),
    }

    def __init__(self, latent_dim: int = 32, *, encoder=None, pretrain: bool = True, freeze_encoder: bool = False,
                 head_epochs: int = 0, head_hidden: int = 128, dropout: float = 0.2, pretrain_epochs: int = 30, model: str = "auto",
                 model_params: dict | None = None, epochs: int = 50, batch_size: int = 32, lr: float = 1e-3,
                 max_time: float | None = None, validation_fraction: float = 0.1, scaler: str = "auto",
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.encoder = encoder
        self.pretrain = pretrain
        self.freeze_encoder = freeze_encoder
        self.head_epochs = head_epochs
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.pretrain_epochs = pretrain_epochs
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

    corruption = None

    def fit(self, X, y, *, X_unlabeled=None):
        """Pre-train on ``X`` (+ ``X_unlabeled``), then fine-tune encoder + head on ``(X, y)``. Returns self."""
        self._check_params()
        check_X_y(X, y, allow_nd=True, ensure_min_samples=2)  # paired lengths, no NaN, clear messages
        x = self._validate(X, reset=True)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"EncoderClassifier needs at least 2 classes in y, got {len(self.classes_)} "
                             f"({self.classes_.tolist()})")
        self.pretrain_history_ = []
        seeds = resolve_seeds(self.random_state)
        if self.encoder is not None:
            self._adopt_encoder(x)
        else:
            x_all = x
            if X_unlabeled is not None and self.pretrain:
                from sklearn.utils.validation import check_array

                xu = check_array(X_unlabeled, allow_nd=True, dtype=[np.float32, np.float64])
                if tuple(xu.shape[1:]) != self.sample_shape_:
                    raise ValueError(f"X_unlabeled has sample shape {tuple(xu.shape[1:])}, X has {self.sample_shape_}")
                x_all = np.concatenate([x, self.layout_.to_model(xu.astype(np.float32))])
            if self.pretrain:
                self._keep(self._train(x_all, seeds=seeds, epochs=int(self.pretrain_epochs)))
                self.pretrain_history_ = self.history_
            else:  # the same architecture from random weights
                model = self._model_spec(tuple(x.shape[1:])).build(tuple(x.shape[1:]), seeds.init)
                self.autoencoder_ = TrainedAutoencoder(model, self._make_scaler(x), metadata={"model": model.name})
        self._fine_tune(x, y_idx, seeds)
        return self

    def _adopt_encoder(self, x: np.ndarray) -> None:
        src = self.encoder
        if isinstance(src, (str, bytes)) or hasattr(src, "__fspath__"):
            src = load_autoencoder(src)
        if isinstance(src, AutoencoderEstimator):
            src = src.autoencoder_
        if isinstance(src, nn.Module):
            src = TrainedAutoencoder(src, None)
        trained = src                                  # the encoder's type was checked by _check_params
        model = copy.deepcopy(trained.model)
        if tuple(x.shape[1:]) != model.input_shape:
            raise ValueError(f"the given encoder takes inputs of shape {model.input_shape}, X has samples of shape "
                             f"{tuple(x.shape[1:])}")
        self.autoencoder_ = TrainedAutoencoder(model, copy.deepcopy(trained.scaler), metadata={"model": model.name})
        self.history_, self.n_iter_ = [], 0

    def _fine_tune(self, x: np.ndarray, y_idx: np.ndarray, seeds: Seeds) -> None:
        ae = self.autoencoder_
        xs = ae.scaler.transform(x).astype(np.float32) if ae.scaler is not None else x
        model = ae.model.train()
        with torch.no_grad():
            code_dim = int(model.encode(torch.from_numpy(xs[:2])).flatten(1).shape[1])
        with torch_seeded(seeds.init + 1):
            head = _head(code_dim, self.head_hidden, len(self.classes_), self.dropout)
        net = _EncoderWithHead(model.encoder, head, len(self.classes_), model.input_shape)
        targets = y_idx.astype(np.float32)
        stages = [(True, self.head_epochs)] if self.head_epochs else []   # (frozen encoder?, epochs)
        stages += [] if self.freeze_encoder and self.head_epochs else [(self.freeze_encoder, self.epochs)]
        history = []
        for frozen, epochs in stages:
            for p in model.encoder.parameters():
                p.requires_grad_(not frozen)
            history += self._train(xs, targets, seeds=seeds, model=net, scaler=None, objective="classification",
                                   epochs=epochs).result.history
        for p in model.encoder.parameters():
            p.requires_grad_(True)
        self.head_ = head.eval()
        model.eval()
        self.history_, self.n_iter_ = history, len(history)

    # ------------------------------------------------------------------------------------ predicting
    @torch.no_grad()
    def _logits(self, X) -> np.ndarray:
        self._check_fitted()
        ae = self.autoencoder_
        x = self._validate(X, reset=False)
        xs = ae.scaler.transform(x).astype(np.float32) if ae.scaler is not None else x
        ae.model.eval()
        t = torch.from_numpy(np.ascontiguousarray(xs))
        return torch.cat([self.head_(ae.model.encoder(t[i:i + 1024]).flatten(1)) for i in range(0, len(t), 1024)]
                         ).numpy() if len(t) else np.zeros((0, len(self.classes_)), np.float32)

    def decision_function(self, X) -> np.ndarray:
        """Class logits (n_samples, n_classes); for two classes, the logit difference (n_samples,)."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns ordered as ``classes_``."""
        return torch.softmax(torch.from_numpy(self._logits(X)).double(), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample."""
        logits = self._logits(X)  # checks fitting before classes_ is read
        return self.classes_[np.argmax(logits, axis=1)]

    # ------------------------------------------------------------------------------------ persistence
    def _get_state(self) -> dict:
        return {**super()._get_state(), "classes_": self.classes_.tolist(), "pretrain_history_": self.pretrain_history_,
                "head_shape": [len(self.classes_), self.head_hidden, self.dropout]}

    def _set_state(self, state: dict) -> None:
        super()._set_state(state)
        self.classes_ = np.asarray(state["classes_"])
        self.pretrain_history_ = state["pretrain_history_"]
        self._head_shape = state["head_shape"]

    def _get_tensors(self) -> dict:
        return {f"head.{k}": v for k, v in self.head_.state_dict().items()}

    def _set_tensors(self, tensors: dict) -> None:
        k, hidden, dropout = self._head_shape
        weights = {n[len("head."):]: t for n, t in tensors.items() if n.startswith("head.")}
        code_dim = int(weights["0.weight"].shape[1])
        self.head_ = _head(code_dim, int(hidden), int(k), float(dropout))
        self.head_.load_state_dict(weights)
        self.head_.eval()
