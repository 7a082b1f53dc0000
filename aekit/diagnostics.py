"""Detect a collapsed autoencoder: a (near-)constant output, or code units that never change.

Remedy (also in the README): a sigmoid output trained with MSE at a high learning rate can saturate to
an all-black image and never recover (the classic Keras conv recipe did, on MNIST, here). Use a linear
output clamped at evaluation (``output_activation="clamp"``, the default), or keep the sigmoid and
train with ``loss="bce"``; lower the learning rate; or add ``batch_norm=True`` to the conv model.
"""
from __future__ import annotations

import math
import warnings

import torch

from aekit.threads import pass_rows

REMEDY = ("Remedies: use output_activation='clamp' (linear output, clamped at evaluation) instead of a "
          "sigmoid trained with MSE, or train the sigmoid with loss='bce'; lower the learning rate; add "
          "batch_norm=True; see the README section 'A collapsed model'.")
CONSTANT_OUTPUT_RATIO = 0.01   # output variance across samples below 1% of the input's: constant output
DEAD_UNIT_STD = 1e-6           # a code unit whose std across samples is below this never changes


class CollapseWarning(UserWarning):
    """The trained model looks collapsed (constant output or dead code units)."""


class OvercompleteCodeWarning(UserWarning):
    """The code has at least as many values as the input, and nothing else limits it: it need not compress."""


def check_code_size(model, *, copies_input: bool = True) -> str | None:
    """Warn (and return the message) when ``model``'s code is at least as large as its input and neither the
    family (``overcomplete_ok``: a sparsity, contraction, KL or rate term) nor the task (``copies_input``
    False: corrupted inputs or other targets, as in denoising) makes that meaningful: such a code can copy
    the input and need not learn anything."""
    # an ensemble's members each code their own copy of the input: a member's code is what must compress
    code = model.latent_dim if getattr(model, "n_members", None) else math.prod(model.code_shape)
    inputs = math.prod(model.input_shape)
    if code < inputs or model.overcomplete_ok or not copies_input:
        return None
    message = (f"the {model.name!r} model's code has {code} values for inputs of {inputs}: it does not compress "
               f"and can learn the identity; use latent_dim < {inputs}, or a sparse, contractive or denoising "
               "model for an overcomplete code")
    warnings.warn(message, OvercompleteCodeWarning, stacklevel=3)
    return message


def check_collapse(model, x: torch.Tensor, *, warn: bool = True) -> dict:
    """Measure output and code variability on up to ~1000 samples ``x``; warn when collapsed.

    Returns ``{"output_variance_ratio", "dead_units", "latent_dim", "warnings"}``.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    rows = pass_rows(model, x[0], len(x)) if len(x) else 1        # in passes of bounded memory
    with torch.no_grad():   # statistics only: no graph
        outs = [model(x[i:i + rows]) for i in range(0, len(x), rows)]
    recon, code = torch.cat([o.recon for o in outs]), torch.cat([o.code for o in outs])
    model.train(was_training)
    in_var = x.flatten(1).var(dim=0).mean().item() if len(x) > 1 else 0.0
    out_var = recon.flatten(1).float().var(dim=0).mean().item() if len(x) > 1 else 0.0
    ratio = out_var / in_var if in_var > 0 else 1.0
    code_std = code.flatten(1).float().std(dim=0) if len(x) > 1 else torch.ones(code.shape[1:])
    dead = int((code_std < DEAD_UNIT_STD).sum().item())
    messages = []
    if len(x) > 1 and ratio < CONSTANT_OUTPUT_RATIO:
        messages.append(
            f"the {model.name!r} model's output is (nearly) the same for every input: its variance across "
            f"samples is {ratio:.2%} of the data's. The model collapsed. " + REMEDY)
    if dead and not getattr(model, "sparse_code", False):  # sparse models report dead units in their stats
        messages.append(
            f"{dead} of {code_std.numel()} code units of the {model.name!r} model are dead (constant over "
            f"{len(x)} samples), so the code is smaller than asked for. " + REMEDY)
    if warn:
        for m in messages:
            warnings.warn(m, CollapseWarning, stacklevel=3)
    return {"output_variance_ratio": ratio, "dead_units": dead, "latent_dim": int(code_std.numel()),
            "warnings": messages}
