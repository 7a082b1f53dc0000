"""Start a new model from the layers of a trained one (transfer learning between autoencoders).

Layers are matched by parameter name and shape, so an encoder trained at one code size can seed a model
of the same family whose later layers differ; the copied layers can be frozen or fine-tuned.
"""
from __future__ import annotations

from torch import nn

PARTS = ("encoder", "decoder")


def copy_layers(source: nn.Module, target: nn.Module, *, parts: tuple[str, ...] = ("encoder",),
                freeze: bool = False) -> list[str]:
    """Copy the ``parts`` ("encoder", "decoder") of the model ``source`` into ``target`` where names and
    shapes agree; with ``freeze=True`` the copied parameters stop training. Returns the copied names.
    (:func:`aekit.transfer_weights` takes saved folders and fitted estimators as the source too.)"""
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        raise ValueError(f"parts={parts!r}; expected a non-empty tuple drawn from {PARTS}")
    if not isinstance(source, nn.Module):
        raise TypeError(f"copy_layers takes a torch model as the source, got a {type(source).__name__}; "
                        "aekit.transfer_weights takes folders and fitted estimators")
    src = source.state_dict()
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
