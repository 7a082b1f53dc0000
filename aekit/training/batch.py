"""What one training step receives: a record of named tensors (:class:`Batch`), and the one step that makes the
views a task trains on from it (``augment(batch, generator) -> batch``).

The data side (the Trainer's batching of arrays, Datasets, memory maps and streams) builds the record: ``input``
(what the model is fed), ``target`` (what its output is compared with; the input itself when the data has none)
and whatever a task needs, each named: ``label`` (int64 class index, -1 for an unlabelled row), ``noise_level``
(B,), ``mask`` (B, H, W), ``weight`` (B,), ``codes`` (int64 code indices), ... Every field's first axis is the
batch's samples. An augmentation returns a new record (``replace``): a corrupted ``input``, a second view such as
``strong``, the side information of a degradation. An objective (:mod:`aekit.objectives`) reads the fields it
needs by name, so no task smuggles data through another's field.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Iterator

import torch

Augment = Callable[["Batch", torch.Generator], "Batch"]


class Batch(Mapping):
    """A read-only mapping of field names to tensors whose first axis is the batch's samples.

    ``Batch(input=x, target=y, label=labels)`` or ``Batch({"input": x, ...})``; ``batch.input`` and
    ``batch.target`` name the two fields every reconstruction task has. A missing field is a ``KeyError`` that
    names the fields there are.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, torch.Tensor] | None = None, /, **more: torch.Tensor):
        merged = {**(fields or {}), **more}
        if not merged:
            raise ValueError("a batch needs at least one named tensor (e.g. input=...)")
        for name, value in merged.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"batch field {name!r} must be a torch.Tensor, got {type(value).__name__}")
        self._fields = merged

    def __getitem__(self, name: str) -> torch.Tensor:
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(f"the batch has no field {name!r}; it has {sorted(self._fields)} (the data or the "
                           f"augmentation must provide it)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={tuple(v.shape)}:{str(v.dtype).replace('torch.', '')}" for k, v in self._fields.items())
        return f"Batch({shown})"

    @property
    def input(self) -> torch.Tensor:
        return self["input"]

    @property
    def target(self) -> torch.Tensor:
        return self["target"]

    @property
    def n_samples(self) -> int:
        """Rows of the batch (the first axis of its first field)."""
        return int(next(iter(self._fields.values())).shape[0])

    def replace(self, **changes: torch.Tensor) -> "Batch":
        """A new record with ``changes`` set (fields added or replaced); this one is left as it is."""
        return Batch({**self._fields, **changes})

    def to(self, device, *, non_blocking: bool = False) -> "Batch":
        return Batch({k: v.to(device, non_blocking=non_blocking) for k, v in self._fields.items()})


def as_batch(item) -> Batch:
    """A record from what a Dataset or stream yields: a mapping of named tensors, an ``(input, target)`` pair or an
    input alone; the target is the input when not given."""
    if isinstance(item, Batch):
        fields = dict(item)
    elif isinstance(item, Mapping):
        fields = dict(item)
    elif isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise ValueError(f"a dataset item given as a sequence must be (input, target), got {len(item)} items")
        fields = {"input": item[0], "target": item[1]}
    else:
        fields = {"input": item}
    if "input" in fields and fields.get("target") is None:
        fields["target"] = fields["input"]
    return Batch(fields)


class Corrupt:
    """An augmentation: ``into`` <- ``corruption(batch[source], generator)`` (default: the input corrupted in
    place, the target left clean: a denoising autoencoder's step, Vincent et al., ICML 2008)."""

    def __init__(self, corruption: Callable[[torch.Tensor, torch.Generator], torch.Tensor], *, source: str = "input",
                 into: str | None = None):
        self.corruption, self.source, self.into = corruption, source, into or source

    def __call__(self, batch: Batch, generator: torch.Generator) -> Batch:
        return batch.replace(**{self.into: self.corruption(batch[self.source], generator)})

    def __repr__(self) -> str:
        return f"Corrupt({self.corruption!r}, source={self.source!r}, into={self.into!r})"
