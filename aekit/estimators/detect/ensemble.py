"""The members of an anomaly detector and how they are run to score.

Members are trained either as one batched network (the ``mlp-ensemble`` model, :mod:`aekit.models.ensemble`:
one set of stacked weights, a feature subset per member) or as separate autoencoders, member ``i`` with
``seeds.member(i)`` (Chen et al., "Outlier detection with autoencoder ensembles", SDM 2017). Either way they
train through the estimator's one training function (``AutoencoderEstimator._train``).

A *scoring unit* is one member: a whole autoencoder, or one member of a batched network. Scores are computed
by float64 copies of the networks, so that a sample's score does not depend on the batch it comes in.
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from aekit.seeding import Seeds
from aekit.training.fitting import split_validation


@dataclass
class Unit:
    """What one scoring unit makes of the scaled inputs ``xs``."""

    sq: np.ndarray           # (n, *sample_shape) squared residual (smoothed first on images, see squared)
    codes: np.ndarray        # (n, k) the unit's codes
    mask: np.ndarray | None  # (D,) bool: the features the unit sees; None: all of them
    inputs: np.ndarray | None = None  # (n, *sample_shape) the scaled inputs (one array shared by every unit)


class MemberEnsemble:
    """The trained autoencoders of a detector (``models[0]`` is the estimator's ``autoencoder_.model``)."""

    def __init__(self, models: list):
        self.models = list(models)

    # ------------------------------------------------------------------------------------ training
    @classmethod
    def train(cls, estimator, xs, seeds: Seeds, *, spec, n_members: int, validation_fraction: float,
              monitor=None) -> tuple["MemberEnsemble", list]:
        """Train on the scaled data ``xs`` (an array or a scaled stream) through ``estimator._train``: one
        network when ``spec`` is a batched model (it holds every member), else ``n_members`` networks, member
        ``i`` with ``seeds.member(i)``; each runs at least the estimator's ``min_steps``. ``monitor``: a function
        of the first model that returns its training callbacks. Returns (the ensemble, the first's history)."""
        models, first_history = [], None
        for i in range(1 if "n_members" in spec.params else n_members):
            member = seeds.member(i)
            epochs = estimator._epochs_for(len(split_validation(len(xs), validation_fraction, member.split)[0]))
            callbacks = monitor if (monitor is not None and i == 0) else ()
            fitted = estimator._train(xs, seeds=member, model=spec, scaler=None, objective="mse", callbacks=callbacks,
                                      epochs=epochs, validation_fraction=validation_fraction)
            models.append(fitted.model)
            first_history = fitted.result.history if i == 0 else first_history
        return cls(models), first_history

    def train_more(self, estimator, xs: np.ndarray, seeds: Seeds) -> list:
        """Go on training every member on ``xs`` for the estimator's epochs (``partial_fit``), member ``i``
        with ``seeds.member(i)`` and a new optimizer; returns the first member's new history."""
        history = []
        for i, model in enumerate(self.models):
            fitted = estimator._train(xs, seeds=seeds.member(i), model=model.train(), scaler=None, objective="mse")
            history = fitted.result.history if i == 0 else history
        return history

    def trimmed(self, xs: np.ndarray, fraction: float, error_sigma: float) -> np.ndarray | None:
        """Rows of ``xs`` to train on again in the contaminated mode: all but the ``fraction`` with the largest
        mean error over the members, in order (least trimmed squares); None when nothing is to be dropped."""
        n_drop = int(np.floor(fraction * len(xs)))
        if n_drop <= 0 or len(xs) - n_drop < 2:
            return None
        err = np.mean([errors(m, xs, error_sigma) for m in self.models], axis=0)
        return np.sort(np.argsort(err, kind="stable")[:len(xs) - n_drop])

    # ------------------------------------------------------------------------------------ scoring
    @torch.no_grad()
    def units(self, xs: np.ndarray, error_sigma: float, batch_size: int = 1024) -> list[Unit]:
        """Per scoring unit, in member order, what it makes of the scaled inputs ``xs`` (float64 copies)."""
        out = []
        for model in self.models:
            net = float64_copy(model)
            batched = bool(getattr(net, "n_members", None))
            res, codes = [], []
            for i in range(0, len(xs), batch_size):
                x = torch.from_numpy(xs[i:i + batch_size]).double()
                o = net(x)
                if batched:                                  # (U, B, D) residuals, (U, B, k) codes
                    res.append((o.pre_output - x.unsqueeze(0)).numpy())
                    codes.append(o.code.transpose(0, 1).numpy())
                else:
                    res.append(o.recon.numpy()[None] - x.numpy()[None])
                    codes.append(o.code.reshape(len(x), -1).numpy()[None])
            res, codes = np.concatenate(res, axis=1), np.concatenate(codes, axis=1)
            masks = net.feature_mask.numpy() > 0 if batched else [None] * len(res)
            out.extend(Unit(squared(r, error_sigma), c, m, xs) for r, c, m in zip(res, codes, masks))
        return out

    # ------------------------------------------------------------------------------------ persistence
    def to_state(self) -> tuple[list[dict], dict[str, torch.Tensor]]:
        """The members after the first (whose weights the model folder holds): their configs and tensors."""
        configs = [{"name": m.name, "params": m.config} for m in self.models[1:]]
        tensors = {f"member{i}.{k}": v for i, m in enumerate(self.models[1:], start=1)
                   for k, v in m.state_dict().items()}
        return configs, tensors

    @staticmethod
    def members_from_state(configs: list[dict], tensors: dict[str, torch.Tensor]) -> list:
        """The members after the first, rebuilt from :meth:`to_state`'s output."""
        from aekit.models import create_model

        out = []
        for i, cfg in enumerate(configs, start=1):
            m = create_model(cfg["name"], **cfg["params"])
            prefix = f"member{i}."
            m.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            out.append(m.eval())
        return out


def class_error_monitor(history: list, xm: np.ndarray, ym: np.ndarray, *, error_sigma: float):
    """Training callbacks for a model: after every epoch, append ``{"epoch": e, label: mean error, ...}`` of
    the monitor data ``xm`` (scaled) with labels ``ym`` to ``history``."""
    def callbacks(model):
        def record(epoch: int, logs: dict):
            if "step" in logs:
                return None
            err = errors(model, xm, error_sigma, device=next(model.parameters()).device)
            history.append({"epoch": int(epoch), **{str(c): float(err[ym == c].mean()) for c in np.unique(ym)}})
            return None
        return [record]
    return callbacks


# ------------------------------------------------------------------------------------------ forward passes
@torch.no_grad()
def forward(model, xs: np.ndarray, device=None, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions and codes ``(n, k)`` of scaled inputs ``xs`` (model layout), float64. Without ``device``
    a float64 copy of the model computes them, so that a sample's result does not depend on its batch."""
    was_training = model.training
    model.eval()
    dtype = torch.float32
    if device is None:
        model, dtype, device = float64_copy(model), torch.float64, torch.device("cpu")
    recons, codes = [], []
    for i in range(0, len(xs), batch_size):
        out = model(torch.from_numpy(xs[i:i + batch_size]).to(device, dtype))
        recons.append(out.recon.double().cpu().numpy())
        codes.append(out.code.double().cpu().numpy().reshape(len(out.code), -1))
    model.train(was_training)
    return np.concatenate(recons), np.concatenate(codes)


def errors(model, xs: np.ndarray, error_sigma: float = 0.0, device=None) -> np.ndarray:
    """Mean squared (smoothed, see :func:`squared`) reconstruction error of each sample of ``xs``."""
    recon, _ = forward(model, xs, device=device)
    return squared(recon - xs, error_sigma).reshape(len(xs), -1).mean(axis=1)


def window_errors(model, windows: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Squared error per channel of each scaled window ``(n, C, L)``, averaged over its rows: ``(n, C)``."""
    out = []
    for i in range(0, len(windows), chunk):
        xs = np.ascontiguousarray(windows[i:i + chunk])
        recon, _ = forward(model, xs)
        out.append(((recon - xs) ** 2).mean(axis=2))
    return np.concatenate(out) if out else np.zeros((0, windows.shape[1]))


def squared(r: np.ndarray, sigma: float) -> np.ndarray:
    """A residual (recon - x) squared per feature; for images ``(n, C, H, W)`` with ``sigma`` > 0 it is smoothed
    by a Gaussian of that many pixels first, so that coherent errors (a missing stroke) outweigh scattered ones."""
    if sigma and r.ndim == 4:
        from scipy.ndimage import gaussian_filter

        r = gaussian_filter(r, sigma=(0, 0, sigma, sigma))
    return r ** 2


_FLOAT64_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def float64_copy(model):
    """A float64 CPU copy of ``model`` for scoring, made once and remade only when a parameter or buffer of
    the model changed since (torch counts in-place changes in each tensor's ``_version``): scoring one row
    at a time (``aekit serve``) does not pay for a deep copy per call. Torch's optimisers may update
    parameters without counting it, so code that trains a model in place calls :func:`forget_float64_copy`."""
    stamp = tuple(t._version for t in (*model.parameters(), *model.buffers()))
    cached = _FLOAT64_COPIES.get(model)
    if cached is None or cached[0] != stamp:
        cached = (stamp, copy.deepcopy(model).cpu().double().eval())
        _FLOAT64_COPIES[model] = cached
    return cached[1]


def forget_float64_copy(model) -> None:
    """Drop the scoring copy of ``model`` (after training it in place: the next forward pass copies it anew)."""
    _FLOAT64_COPIES.pop(model, None)
