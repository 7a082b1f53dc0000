"""Start a new model from the layers of a trained one (transfer learning between autoencoders).

Layers are matched by parameter name and shape, so an encoder trained at one code size can seed a model
of the same family whose later layers differ; the copied layers can be frozen or fine-tuned.
"""
from __future__ import annotations

from torch import nn

PARTS = ("encoder", "decoder")


def _module(source) -> nn.Module:
    """An nn.Module from a model, an ``aekit.load`` result, a fitted estimator or a model folder path."""
    if isinstance(source, nn.Module):
        return source
    if hasattr(source, "autoencoder_"):           # a fitted aekit estimator
        return source.autoencoder_.model
    if hasattr(source, "model") and isinstance(source.model, nn.Module):  # TrainedAutoencoder
        return source.model
    if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
        from aekit.persistence import load

        return load(source).model
    raise TypeError(f"cannot take layers from a {type(source).__name__}; pass a model, a model folder path, "
                    "an aekit.load() result or a fitted estimator")


def transfer_weights(source, target: nn.Module, *, parts: tuple[str, ...] = ("encoder",),
                     freeze: bool = False) -> list[str]:
    """Copy the ``parts`` ("encoder", "decoder") of ``source`` into ``target`` where names and shapes
    agree; with ``freeze=True`` the copied parameters stop training. Returns the copied names."""
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"parts={parts!r}; expected a non-empty tuple drawn from {PARTS}")
    src = _module(source).state_dict()
    dst = target.state_dict()
    copied = [k for k, v in src.items() if k.split(".", 1)[0] in parts and k in dst and dst[k].shape == v.shape]
    if not copied:
        raise ValueError(f"no {'/'.join(parts)} layer of the source matches the target by name and shape; "
                         "transfer needs models of the same family with compatible layer sizes")
    target.load_state_dict({**dst, **{k: src[k] for k in copied}})
    if freeze:
        params = dict(target.named_parameters())
        for k in copied:
            if k in params:
                params[k].requires_grad_(False)
    return copied
