"""The one model-folder format: ``config.json`` + ``model.safetensors`` (the scaler inside config.json).

Everything the library saves is such a folder: ``aekit train`` writes one, and so does every estimator's
``save``. ``config.json`` says which it holds in ``kind``: ``"autoencoder"`` (a trained model and its
scaler) or ``"estimator"`` (the same, plus the estimator's class, parameters and learned state under
``metadata.estimator``, and its extra tensors in the same safetensors file). :func:`aekit.load`, the one
public loader, opens either and returns the right object; :func:`read_model` (what it reads a folder with)
returns the autoencoder of any folder.
Folders written before ``kind`` existed (aekit 0.1.0) are read by the same rule (an ``estimator`` entry
makes it an estimator folder).

Loading runs no pickled code: the weights are safetensors, the rest is JSON, and the SHA-256 of the
weights file recorded in ``config.json`` detects a corrupted or swapped weights file.

Saving over a folder is safe against a crash at any point: two files cannot be replaced in one step, so the
new config is first written to ``.config.json.pending``, then the weights and ``config.json`` are replaced
(each atomically); a save killed between those two leaves new weights beside the old ``config.json``, and
the loader then takes the pending config, whose SHA-256 matches them. The folder holds the old model or the
new one, never a mix.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from aekit.models.base import Autoencoder, create_model, model_class
from aekit.fileio import atomic_write_bytes
from aekit.operations import Operation, sample_autoencoder
from aekit.threads import pass_rows

if TYPE_CHECKING:
    from aekit.data.scalers import Scaler

FORMAT = "aekit-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PENDING_NAME = ".config.json.pending"   # the next config.json, written before the weights it describes
KINDS = ("autoencoder", "estimator")


class ModelFileError(ValueError):
    """A model folder is missing, corrupted, tampered with, or from an incompatible version."""


def _scaler_cls():
    from aekit.data import Scaler
    return Scaler


@dataclass
class TrainedAutoencoder:
    """A model with the scaler that maps raw data to its inputs; what :func:`aekit.load` returns.

    ``encode`` / ``reconstruct`` take raw data (as loaded from files) and handle the scaling.
    """

    model: Autoencoder
    scaler: Scaler | None = None          # aekit.data.Scaler, or None when the data was used as is
    metadata: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # named tensors saved beside the model (an estimator's head, ...)

    def _inputs(self, X, scaled: bool = False) -> torch.Tensor:
        X = np.asarray(X, dtype=np.float32)
        if self.scaler is not None and not scaled:
            X = self.scaler.transform(X)
        if tuple(X.shape[1:]) != self.model.input_shape:
            raise ValueError(f"inputs have sample shape {tuple(X.shape[1:])}, but the model expects "
                             f"{self.model.input_shape}")
        return torch.from_numpy(np.ascontiguousarray(X))

    @torch.no_grad()
    def _map(self, fn, X, batch_size: int, scaled: bool = False) -> np.ndarray:
        self.model.eval()
        device = next(self.model.parameters()).device
        X = np.asarray(X, dtype=np.float32)
        if len(X) == 0:
            return np.zeros((0,), np.float32)
        example = torch.zeros(self.model.input_shape, device=device)   # the pass size needs the shape only
        rows = pass_rows(self.model, example, batch_size)                  # a bounded peak on big inputs
        out = None
        for i in range(0, len(X), rows):   # scaled a pass at a time, written into one output array
            part = fn(self._inputs(X[i:i + rows], scaled).to(device)).float().cpu().numpy()
            if out is None:
                out = np.empty((len(X), *part.shape[1:]), np.float32)
            out[i:i + len(part)] = part
        return out

    def encode(self, X, *, batch_size: int = 1024) -> np.ndarray:
        """Codes (N, latent_dim) of raw samples ``X``."""
        return self._map(self.model.encode, X, batch_size)

    def reconstruct(self, X, *, batch_size: int = 1024, scaled: bool = False,
                    inputs_scaled: bool = False) -> np.ndarray:
        """Reconstructions of raw samples, in raw units (``scaled=True``: in the model's units;
        ``inputs_scaled=True``: ``X`` is already in the model's units)."""
        out = self._map(lambda x: self.model(x).recon, X, batch_size, inputs_scaled)
        if scaled or self.scaler is None:
            return out
        return self.scaler.inverse_transform(out)

    # what `aekit apply`, `aekit serve` and aekit.operations.declared_operations offer for this folder
    operations = (
        Operation("encode", "samples", ("code",), "the codes", lambda ae, x: {"code": ae.encode(x)}),
        Operation("reconstruct", "samples", ("reconstruction",), "reconstructions, raw units",
                  lambda ae, x: {"reconstruction": ae.reconstruct(x)}),
        Operation("sample", "count", ("samples",), "samples from the prior",
                  lambda ae, n, seed=None: {"samples": sample_autoencoder(ae, n, seed)},
                  when=lambda ae: callable(getattr(ae.model, "sample", None))),
    )

    def save(self, directory: str | os.PathLike) -> Path:
        return save_model(directory, self.model, scaler=self.scaler, metadata=self.metadata, extra=self.extra,
                          kind=folder_kind({"metadata": self.metadata}))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


EXTRA_PREFIX = "extra."


def save_model(directory: str | os.PathLike, model: Autoencoder, *, scaler=None, metadata: dict | None = None,
               extra: dict[str, torch.Tensor] | None = None, kind: str = "autoencoder") -> Path:
    """Write ``model`` (and its scaler) as a folder of ``kind`` (see the module docstring); each file is
    replaced atomically.

    ``extra`` tensors (an estimator's classification head, a codec's tables, ...) go into the same
    safetensors file under the prefix ``extra.`` and come back in :attr:`TrainedAutoencoder.extra`.
    """
    from safetensors.torch import save

    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {KINDS}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({EXTRA_PREFIX + k: torch.as_tensor(v).detach().cpu().contiguous() for k, v in (extra or {}).items()})
    blob = save(tensors, metadata={"format": FORMAT})
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": model.name,
        "params": model.config,
        "scaler": None if scaler is None else scaler.to_dict(),
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "metadata": metadata or {},
    }
    text = json.dumps(config, indent=2, default=_json_default).encode()
    pending, weights = directory / PENDING_NAME, directory / WEIGHTS_NAME
    if pending.exists() and weights.exists() and _pending_config(directory, _sha256(weights)) is not None:
        os.replace(pending, directory / CONFIG_NAME)   # finish the save that was killed half-way (module docstring)
    atomic_write_bytes(pending, lambda f: f.write(text))
    atomic_write_bytes(weights, lambda f: f.write(blob))
    atomic_write_bytes(directory / CONFIG_NAME, lambda f: f.write(text))
    pending.unlink(missing_ok=True)
    return directory


def _json_default(obj):
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, (tuple, np.ndarray)):
        return list(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to config.json")


def _read_config(directory: Path, name: str = CONFIG_NAME) -> dict:
    path = directory / name
    if not directory.is_dir():
        raise ModelFileError(f"{directory} is not a model folder (no such directory)")
    if not path.exists():
        raise ModelFileError(f"{directory} is not a model folder: {CONFIG_NAME} is missing")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path} is corrupted: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not an aekit model config (expected \"format\": \"{FORMAT}\")")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path} has format_version {config.get('format_version')!r}; this aekit reads "
                             f"version {FORMAT_VERSION}")
    for key, kind in (("model", str), ("params", dict), ("weights_sha256", str)):
        if not isinstance(config.get(key), kind):
            raise ModelFileError(f"{path}: field {key!r} is missing or not a {kind.__name__}")
    if not isinstance(config.get("metadata", {}), dict):
        raise ModelFileError(f"{path}: field 'metadata' is a {type(config['metadata']).__name__}, expected a dict")
    if config.get("kind", folder_kind(config)) not in KINDS:
        raise ModelFileError(f"{path}: kind {config.get('kind')!r}; this aekit reads {KINDS}")
    return config


def _pending_config(directory: Path, digest: str) -> dict | None:
    """The config a save left in ``PENDING_NAME`` when it was killed after replacing the weights (SHA-256
    ``digest``) and before replacing config.json; None when there is none or it describes other weights."""
    if not (directory / PENDING_NAME).is_file():
        return None
    try:
        config = _read_config(directory, PENDING_NAME)
    except ModelFileError:
        return None
    return config if config["weights_sha256"] == digest else None


def folder_kind(config: dict) -> str:
    """``"estimator"`` or ``"autoencoder"``: what a folder's ``config.json`` describes (older folders have no
    ``kind``; an ``estimator`` entry in their metadata makes them estimator folders)."""
    if "kind" in config:
        return config["kind"]
    return "estimator" if isinstance(config.get("metadata", {}).get("estimator"), dict) else "autoencoder"


def read_kind(directory: str | os.PathLike) -> str:
    """The kind of the model folder ``directory`` (checked as :func:`read_model` checks it)."""
    directory = Path(directory)
    config, weights = _read_config(directory), directory / WEIGHTS_NAME
    if (directory / PENDING_NAME).exists() and weights.is_file():   # perhaps an interrupted save
        digest = _sha256(weights)
        if digest != config["weights_sha256"]:
            config = _pending_config(directory, digest) or config
    return folder_kind(config)


def load_autoencoder(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> TrainedAutoencoder:
    """Deprecated: use :func:`aekit.load` (for an estimator folder, its ``autoencoder_``)."""
    import warnings

    warnings.warn("aekit.persistence.load_autoencoder is deprecated and will be removed in the next release; use "
                  "aekit.load(directory) (for an estimator folder, its .autoencoder_)", FutureWarning, stacklevel=2)
    return read_model(directory, device=device)


def read_model(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> TrainedAutoencoder:
    """The trained autoencoder (and scaler) of any model folder, on CPU by default: what :func:`aekit.load`
    reads a folder with (it returns the fitted estimator instead when the folder holds one); for the library's
    own use, where the autoencoder of any folder is wanted.

    No pickle is involved; a damaged, tampered or mismatched folder raises :class:`ModelFileError`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    directory = Path(directory)
    config = _read_config(directory)
    weights = directory / WEIGHTS_NAME
    if not weights.exists():
        raise ModelFileError(f"{directory} is incomplete: {WEIGHTS_NAME} is missing")
    blob = weights.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != config["weights_sha256"]:
        pending = _pending_config(directory, digest)   # a save killed between the weights and config.json
        if pending is None:
            raise ModelFileError(f"{weights} does not match {CONFIG_NAME} (SHA-256 {digest[:12]}... expected "
                                 f"{config['weights_sha256'][:12]}...): the file was corrupted or replaced")
        config = pending
    try:
        state = load_bytes(blob)
    except (SafetensorError, Exception) as exc:
        raise ModelFileError(f"{weights} is not a readable safetensors file ({exc})") from None
    try:
        model_class(config["model"])
        with torch.device("meta"):  # shapes without memory: an edited config cannot make it allocate
            skeleton = create_model(config["model"], **config["params"])
    except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: torch refusing sizes (overflow)
        raise ModelFileError(f"{directory / CONFIG_NAME}: cannot rebuild the model ({exc})") from None
    extra = {k[len(EXTRA_PREFIX):]: state.pop(k) for k in list(state) if k.startswith(EXTRA_PREFIX)}
    _check_shapes(skeleton, state, f"{weights} does not fit the {config['model']!r} model described in "
                                   f"{CONFIG_NAME}")
    model = create_model(config["model"], **config["params"])   # only now: its sizes match the weights
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights} does not fit the {config['model']!r} model described in "
                             f"{CONFIG_NAME}: {exc}") from None
    model.to(device).eval()
    scaler = None
    if config.get("scaler") is not None:
        try:
            scaler = _scaler_cls().from_dict(config["scaler"])
        except ValueError as exc:
            raise ModelFileError(f"{directory / CONFIG_NAME}: bad scaler entry ({exc})") from None
    return TrainedAutoencoder(model=model, scaler=scaler, metadata=config.get("metadata", {}), extra=extra)


def _check_shapes(skeleton: Autoencoder, state: dict[str, torch.Tensor], what: str) -> None:
    """The tensors the config's model has (built on the meta device) against those in the weights file."""
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    problems = [f"{k} is {want[k]} in the config's model but {have[k]} in the weights"
                for k in sorted(want.keys() & have.keys()) if want[k] != have[k]]
    problems += [f"{k} is missing from the weights" for k in sorted(want.keys() - have.keys())]
    problems += [f"{k} is in the weights but not in the config's model" for k in sorted(have.keys() - want.keys())]
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ModelFileError(f"{what}: " + "; ".join(problems[:3]) + more)


class _ReconstructionOnly(torch.nn.Module):
    def __init__(self, model: Autoencoder):
        super().__init__()
        self.model = model

    def forward(self, x):
        out = self.model(x)
        return out.recon, out.code


def export_onnx(model: Autoencoder | TrainedAutoencoder, path: str | os.PathLike, *, opset: int = 18) -> Path:
    """Export to ONNX with a dynamic batch axis: input ``input`` -> outputs ``reconstruction``, ``code``.

    The graph takes scaled inputs (apply the saved scaler first, as :class:`TrainedAutoencoder` does).
    """
    if isinstance(model, TrainedAutoencoder):
        model = model.model
    model = model.cpu().eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, *model.input_shape)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.onnx.export(_ReconstructionOnly(model).eval(), (example,), str(tmp), input_names=["input"],
                          output_names=["reconstruction", "code"], opset_version=opset,
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False,
                          external_data=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
