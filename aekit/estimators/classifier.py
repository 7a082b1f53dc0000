"""Classification with few labels, through an autoencoder's encoder and a small classification head.

Three ways to train it (``mode``):

- ``"joint"`` (default): one network trained on all the data at once: the head on the labelled samples, the
  reconstruction of every sample, and the agreement of the head's answers on strongly and weakly corrupted
  copies of the unlabelled samples (:class:`aekit.objectives.JointClassification`).
- ``"pretrain"``: pre-train the autoencoder on all the data, then fine-tune encoder + head on the labelled
  samples (Erhan et al., "Why does unsupervised pre-training help deep learning?", JMLR 2010).
- ``"scratch"``: the same network from random weights, trained on the labelled samples only (the baseline).
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
from aekit.persistence import TrainedAutoencoder, read_model
from aekit.models.base import Autoencoder
from aekit.estimators._classifier_joint import JointTraining
from aekit.estimators._classifier_nets import _EncoderWithHead, _head
from aekit.corruption import Corruption
from aekit.validation import Boolean, Either, Instance, Integer, NoneOr, Options, Real
from aekit.operations import Operation


MODES = ("joint", "pretrain", "scratch")


@register_estimator("encoder-classifier")
class EncoderClassifier(JointTraining, ClassifierMixin, AutoencoderEstimator):
    """A classifier whose body is an autoencoder's encoder, for data with few labels and many unlabelled samples.

    Parameters
    ----------
    latent_dim : int, default 32
        Code size of the autoencoder (ignored when ``encoder`` is given).
    mode : {"joint", "pretrain", "scratch"}, default "joint"
        How the network learns (see the module's docstring): ``"joint"`` trains head and autoencoder together
        on the labelled samples and the ``X_unlabeled`` given to :meth:`fit`; ``"pretrain"`` pre-trains the
        autoencoder, then fine-tunes; ``"scratch"`` trains the same network on the labels alone.
    encoder : str, path, fitted estimator or aekit.load() result, optional
        A trained autoencoder to start from (its scaler is reused) instead of pre-training one (modes
        "pretrain" and "joint").
    reconstruction_weight, consistency_weight : float, default 1.0, 1.0
        Joint mode: weights of the reconstruction error (mean squared error in the scaled units) and of the
        pseudo-label consistency term, beside the labelled cross-entropy
        (:class:`aekit.objectives.JointClassification`).
    threshold : float, default 0.95
        Joint mode: the probability the head must give a weakly corrupted unlabelled sample for its class to
        be the target of the strongly corrupted copy.
    corruption : str or Corruption, default "auto"
        Joint mode: the strong corruption (spec as in
        :func:`aekit.corruption.make_corruption`) of the unlabelled samples; "auto": for images the weak
        view's distortion, then half the pixels dropped (``"affine+mask:0.5"`` at 28 x 28), ``"mask:0.2"``
        for other data. The weak view every sample trains on is a random affine distortion for images
        (rotation up to 15 degrees, zoom up to 10 %, shift up to 2 pixels at 28 x 28, in proportion at other
        sizes) and the sample itself for other data.
    labelled_fraction : float, default 0.2
        Joint mode: the share of each batch drawn from the labelled samples (repeated to make it up).
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
        Autoencoder epochs before fine-tuning (mode "pretrain").
    epochs : int or "auto", default "auto"
        Joint mode: passes over the unlabelled + repeated labelled samples ("auto": 20); other modes: epochs of
        fine-tuning on the labelled samples ("auto": 50).
    batch_size : int or "auto", default "auto"
        "auto": 256 in joint mode, 32 otherwise.
    model : str, default "auto"
        "auto": in joint mode an ``mlp`` with hidden widths (1000, 500) for images, else the data kind's
        autoencoder (``conv`` for images).
    lr, model_params, max_time, validation_fraction, scaler, random_state, device, verbose :
        as in :class:`aekit.Reducer`; joint mode holds out no validation data (its budget is fixed).

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    autoencoder_ : aekit.TrainedAutoencoder
        The autoencoder whose encoder (fine-tuned) is the classifier's body.
    head_ : torch.nn.Module
    pretrain_history_, history_ : list of dict
        Per-epoch losses of the pre-training and of the (joint or fine-tuning) training.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from aekit import EncoderClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = EncoderClassifier(latent_dim=16, epochs=2).fit(X[:100], y[:100], X_unlabeled=X)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    _constraints = {
        **AutoencoderEstimator._constraints,
        "mode": Options(*MODES),
        "encoder": NoneOr(Instance(str, bytes, os.PathLike, AutoencoderEstimator, TrainedAutoencoder, nn.Module,
                                   what="a model folder, a fitted estimator, an aekit.load() result or a model")),
        "reconstruction_weight": Real(0, finite=True),
        "consistency_weight": Real(0, finite=True),
        "threshold": Real(0, 1),
        "corruption": Instance(str, Corruption, what="a corruption spec such as 'affine+mask:0.5' or 'auto'"),
        "labelled_fraction": Real(0, 1, closed="neither"),
        "freeze_encoder": Boolean(),
        "head_epochs": Integer(0),
        "head_hidden": Integer(0),
        "dropout": Real(0, 1, closed="left"),
        "pretrain_epochs": Integer(1),
        "epochs": Either(Integer(1), Options("auto")),
        "batch_size": Either(Integer(1), Options("auto")),
    }

    # what aekit apply, aekit serve and the explorer offer (aekit.operations)
    purpose = "classification"
    operations = (Operation("predict", "samples", ("label", "probabilities"), "class and probabilities",
                            lambda est, x: {"label": est.predict(x), "probabilities": est.predict_proba(x)}),)

    # tiny settings and a data family for tests/test_conformance.py ("sklearn": settings of scikit-learn's checks)
    # (check_classifiers_train asks for > 83% training accuracy on blobs: a higher lr, 6 epochs)
    _conformance = {"data": "labelled-table", "params": {"latent_dim": 4, "pretrain_epochs": 1, "epochs": 2},
                    "sklearn": [{"latent_dim": 4, "pretrain_epochs": 1, "epochs": 6, "batch_size": 32, "lr": 2e-2}]}

    def __init__(self, latent_dim: int = 32, *, mode: str = "joint", encoder=None, reconstruction_weight: float = 1.0,
                 consistency_weight: float = 1.0, threshold: float = 0.95, corruption="auto",
                 labelled_fraction: float = 0.2, freeze_encoder: bool = False, head_epochs: int = 0,
                 head_hidden: int = 128, dropout: float = 0.2, pretrain_epochs: int = 30, model: str = "auto",
                 model_params: dict | None = None, epochs="auto", batch_size="auto", lr: float = 1e-3,
                 max_time: float | None = None, validation_fraction: float = 0.1, scaler: str = "auto",
                 random_state=0, device: str = "cpu", verbose: bool = False):
        self.latent_dim = latent_dim
        self.mode = mode
        self.encoder = encoder
        self.reconstruction_weight = reconstruction_weight
        self.consistency_weight = consistency_weight
        self.threshold = threshold
        self.corruption = corruption
        self.labelled_fraction = labelled_fraction
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

    # ------------------------------------------------------------------------------------ settings
    def _epochs(self) -> int:
        return (20 if self.mode == "joint" else 50) if self.epochs == "auto" else int(self.epochs)

    def _batch_size(self) -> int:
        return (256 if self.mode == "joint" else 32) if self.batch_size == "auto" else int(self.batch_size)

    def _model_name(self, input_shape: tuple[int, ...]) -> str:
        if self.model == "auto" and self.mode == "joint" and len(input_shape) == 3:
            return "mlp"
        return super()._model_name(input_shape)

    def _default_model_params(self, name: str, input_shape: tuple[int, ...]) -> dict:
        if self.model == "auto" and self.mode == "joint" and len(input_shape) == 3:
            return {"hidden": [1000, 500]}
        return super()._default_model_params(name, input_shape)

    # ------------------------------------------------------------------------------------ fitting
    def fit(self, X, y, *, X_unlabeled=None):
        """Train on the labelled ``(X, y)`` and, in modes "joint" and "pretrain", the unlabelled
        ``X_unlabeled`` (samples shaped like X's). Returns self."""
        self._check_params()
        check_X_y(X, y, allow_nd=True, ensure_min_samples=2)  # paired lengths, no NaN, clear messages
        x = self._validate(X, reset=True)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(np.asarray(y), return_inverse=True)
        y_idx = y_idx.reshape(-1)
        if len(self.classes_) < 2:
            raise ValueError(f"EncoderClassifier needs at least 2 classes in y, got {len(self.classes_)} "
                             f"({self.classes_.tolist()})")
        if self.freeze_encoder and self.mode != "pretrain":
            raise ValueError(f"freeze_encoder=True trains the head on a fixed encoder, which needs mode='pretrain' "
                             f"(with encoder= or a pre-training); got mode={self.mode!r}")
        xu = self._unlabelled(X_unlabeled) if self.mode != "scratch" else None
        self.pretrain_history_ = []
        seeds = resolve_seeds(self.random_state)
        if self.encoder is not None and self.mode != "scratch":
            self._adopt_encoder(x)
        elif self.mode == "pretrain":
            self._keep(self._train(x if xu is None else np.concatenate([x, xu]), seeds=seeds,
                                   epochs=int(self.pretrain_epochs)))
            self.pretrain_history_ = self.history_
        else:  # the architecture from random weights
            x_all = x if xu is None else np.concatenate([x, xu])
            model = self._model_spec(tuple(x.shape[1:])).build(tuple(x.shape[1:]), seeds.init)
            self.autoencoder_ = TrainedAutoencoder(model, self._make_scaler(x_all), metadata={"model": model.name})
        if self.mode == "joint":
            self._fit_joint(x, y_idx, xu, seeds)
        else:
            self._fine_tune(x, y_idx, seeds)
        return self

    def _unlabelled(self, X_unlabeled) -> np.ndarray | None:
        if X_unlabeled is None:
            return None
        from sklearn.utils.validation import check_array

        xu = check_array(X_unlabeled, allow_nd=True, dtype=[np.float32, np.float64])
        if tuple(xu.shape[1:]) != self.sample_shape_:
            raise ValueError(f"X_unlabeled has sample shape {tuple(xu.shape[1:])}, X has {self.sample_shape_}")
        return self.layout_.to_model(xu.astype(np.float32))

    def _new_head(self, model: Autoencoder, xs: np.ndarray, seeds: Seeds) -> nn.Module:
        with torch.no_grad():
            code_dim = int(model.encode(torch.from_numpy(xs[:2])).flatten(1).shape[1])
        with torch_seeded(seeds.init + 1):
            return _head(code_dim, self.head_hidden, len(self.classes_), self.dropout)

    def _adopt_encoder(self, x: np.ndarray) -> None:
        src = self.encoder
        if isinstance(src, (str, bytes)) or hasattr(src, "__fspath__"):
            src = read_model(src)
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
        head = self._new_head(model, xs, seeds)
        net = _EncoderWithHead(model.encoder, head, len(self.classes_), model.input_shape)
        labels = {"label": y_idx.astype(np.int64)}
        stages = [(True, self.head_epochs)] if self.head_epochs else []   # (frozen encoder?, epochs)
        stages += [] if self.freeze_encoder and self.head_epochs else [(self.freeze_encoder, self._epochs())]
        history = []
        for frozen, epochs in stages:
            for p in model.encoder.parameters():
                p.requires_grad_(not frozen)
            history += self._train(xs, seeds=seeds, model=net, scaler=None, objective="classification",
                                   fields=labels, epochs=epochs or None).result.history
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
