"""The base class, the one output type and the registry shared by every autoencoder family.

Registry idea from timm (``@register_model`` + ``list_models()``): a string maps to a builder through
one table, and tests iterate over everything registered. Each family declares the data kinds it accepts
(``input_kinds``, see :mod:`aekit.data.kinds`) and a small ``example_input_shape``; the registry-driven
tests build every family with that shape, so registering a family is all it takes to test it.
"""
from __future__ import annotations

import inspect
from typing import Callable, NamedTuple

import torch
from torch import nn

from aekit.data.kinds import get_kind, kind_of
from aekit.data.errors import DataError
from aekit.layers import get_activation
from aekit.registry import Registry
from aekit.validation import Integer, InvalidParameterError, check_params

_MODELS: Registry[type["Autoencoder"]] = Registry("model")


class ModelOutput(NamedTuple):
    """What every model's ``forward`` returns; the fields never depend on flags. A family whose output names more
    (transform coding's rate-distortion ``multiplier``) returns its own NamedTuple that begins with these fields.

    recon:        reconstruction, same shape as the input                      (B, *input_shape)
    code:         the bottleneck code                                          (B, latent_dim)
    pre_output:   the decoder output before the output activation (logits when it is a sigmoid)
                  (an ensemble model, with ``n_members``: each member's output, (n_members, B, *input_shape))
    regularizers: named, already weighted loss terms the model adds (empty for plain autoencoders)
    stats:        named quantities to record but not to optimise (codebook perplexity, L0, ...)
    """

    recon: torch.Tensor
    code: torch.Tensor
    pre_output: torch.Tensor
    regularizers: dict[str, torch.Tensor]
    stats: dict[str, torch.Tensor]


class Stage(NamedTuple):
    """A part of a model trained after the model itself (VQ-VAE's prior over its codes), through the same Trainer
    as any fit: ``module`` (otherwise frozen) minimises the objective named ``objective`` on the named per-sample
    tensors ``records(x)`` makes from (up to ``max_samples`` of) the trained model's training inputs ``x``, for
    ``epochs`` epochs of ``batch_size`` at the constant learning rate ``lr`` (Adam); ``done()`` records that it
    was trained (saved with the model)."""

    name: str
    module: nn.Module
    objective: str
    records: Callable[[torch.Tensor], dict]
    epochs: int
    done: Callable[[], None]
    batch_size: int = 64
    lr: float = 1e-3
    max_samples: int = 20_000


class Autoencoder(nn.Module):
    """Base class: subclasses build ``encoder`` and ``decoder`` and record their constructor arguments.

    ``self.config`` holds the keyword arguments the model was built with, so that
    ``create_model(name, **model.config)`` rebuilds the same architecture (used by :func:`aekit.load`).

    ``input_kinds`` and ``example_input_shape`` describe the family (class attributes, checked by
    :func:`register_model`): the data kinds whose samples it takes, and a small input shape of one of them
    that builds with the default arguments.
    """

    name: str = ""
    input_kinds: tuple[str, ...] = ("table",)        # data kinds accepted: "table", "image", "sequence"
    example_input_shape: tuple[int, ...] = (20,)     # small, valid with the defaults; used by the tests
    encoder: nn.Module
    decoder: nn.Module
    can_decode: bool = True   # False where decoding needs more than the code (U-Net's skip connections)
    sparse_code: bool = False  # True where most code units are meant to be zero (no dead-unit warning)
    # True where a regulariser (sparsity, contraction, KL, quantisation, rate) or skip connections make a code
    # at least as large as the input meaningful; else such a code need not compress (OvercompleteCodeWarning)
    overcomplete_ok: bool = False
    # the reconstruction objective this family trains with when a task asks for reconstruction (None: the task's);
    # an ensemble family trains each member on its own error ("member-mse", aekit/objectives.py)
    loss: str | None = None
    # what the checked constructor arguments may be (aekit.validation); a family extends it with
    # {**Parent._constraints, ...} and calls self._check_args(...) first in __init__
    _constraints: dict = {"latent_dim": Integer(1)}

    def __init__(self, *, input_shape: tuple[int, ...], latent_dim: int, output_activation: str | None):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.latent_dim = int(latent_dim)
        self.output_activation = output_activation
        self.out_act = get_activation(output_activation)
        self.config: dict = {}

    @classmethod
    def _check_args(cls, **values) -> None:
        """Check constructor arguments against ``_constraints``; an error names the model
        (``model 'mlp': dropout=1.5 must be a number in [0, 1)``)."""
        check_params(f"model {cls.name!r}", values, cls._constraints)

    @property
    def code_shape(self) -> tuple[int, ...]:
        """Shape of one sample's code: (latent_dim,) here; a grid (D, h, w) for VQ-VAE, for example."""
        return (self.latent_dim,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, *input_shape) -> (B, latent_dim)``"""
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, latent_dim) -> (B, *input_shape)``, before the output activation."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, latent_dim) -> (B, *input_shape)``"""
        return self.out_act(self.decode_logits(z))

    def set_training_progress(self, step: int, total_steps: int) -> None:
        """Called by the training loop before every step (KL warm-up and similar schedules); no-op here."""

    def later_stages(self) -> list["Stage"]:
        """The parts of this model that learn from it once it is trained (VQ-VAE's prior over its codes), which
        :func:`aekit.training.train_autoencoder` trains next, through the same Trainer. None here."""
        return []

    def forward(self, x: torch.Tensor) -> ModelOutput:
        code = self.encode(x)
        pre = self.decode_logits(code)
        return ModelOutput(self.out_act(pre), code, pre, {}, {})


def _check_input_shape(name: str, input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError:
        raise TypeError(f"model {name!r}: input_shape must be a tuple of ints, got {input_shape!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"model {name!r}: input_shape must be non-empty and positive, got {shape}")
    return shape


def _check_declaration(name: str, cls: type[Autoencoder]) -> None:
    """``input_kinds`` names known kinds and ``example_input_shape`` is one of them."""
    kinds = cls.input_kinds
    if not isinstance(kinds, tuple) or not kinds:
        raise TypeError(f"model {name!r}: input_kinds must be a non-empty tuple of data kind names, got {kinds!r}")
    for kind in kinds:
        get_kind(kind)  # ValueError naming the known kinds
    example = _check_input_shape(name, cls.example_input_shape)
    if _kind_or_none(example) not in kinds:
        raise ValueError(f"model {name!r}: example_input_shape={example} is not one of its input_kinds {kinds}")


def _kind_or_none(shape: tuple[int, ...]) -> str | None:
    try:
        return kind_of(shape)
    except DataError:
        return None


def register_model(name: str) -> Callable[[type[Autoencoder]], type[Autoencoder]]:
    """Class decorator: make ``create_model(name, ...)`` build this class; checks its ``input_kinds`` and
    ``example_input_shape``."""
    def wrap(cls: type[Autoencoder]) -> type[Autoencoder]:
        _check_declaration(name, cls)
        return _MODELS.register(name)(cls)

    return wrap


def list_models(kind: str | None = None) -> list[str]:
    """Names of every registered model, sorted; ``kind``: only those accepting that data kind."""
    if kind is not None:
        get_kind(kind)  # ValueError naming the known kinds
    return [n for n in _MODELS.names() if kind is None or kind in _MODELS.get(n).input_kinds]


def model_class(name: str) -> type[Autoencoder]:
    return _MODELS.get(name)


def create_model(name: str, **kwargs) -> Autoencoder:
    """Build a registered model: ``create_model("conv", input_shape=(1, 28, 28), latent_dim=32)``."""
    cls = model_class(name)
    params = inspect.signature(cls.__init__).parameters
    unknown = sorted(set(kwargs) - set(params) - {"self"})
    if unknown:
        allowed = sorted(p for p in params if p != "self")
        raise InvalidParameterError(f"model {name!r} got unknown argument(s) {unknown}; it accepts {allowed}")
    if "input_shape" in kwargs:
        kwargs["input_shape"] = shape = _check_input_shape(name, kwargs["input_shape"])
        if _kind_or_none(shape) not in cls.input_kinds:
            wanted = " or ".join(get_kind(k).describe() for k in cls.input_kinds)
            raise ValueError(f"model {name!r} needs {wanted}, got input_shape={shape}")
    missing = [p for p, v in params.items() if p != "self" and v.default is inspect.Parameter.empty
               and p not in kwargs]
    if missing:
        raise TypeError(f"model {name!r} needs argument(s) {missing}")
    model = cls(**kwargs)
    # record the complete configuration (defaults included) so the folder format is self-describing
    bound = {p: kwargs.get(p, v.default) for p, v in params.items() if p != "self"}
    bound["input_shape"] = list(bound["input_shape"])
    model.config = bound
    return model
