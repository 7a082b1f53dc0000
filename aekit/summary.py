"""A Keras-style ``summary()`` for any model: layers, output shapes and parameter counts."""
from __future__ import annotations

import torch
from torch import nn


def model_summary(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> str:
    """Run one sample through ``model`` and tabulate every leaf layer it calls, in call order."""
    shape = tuple(input_shape or model.input_shape)
    rows: list[tuple[str, str, str, int]] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = []

    def hook(module, _inputs, output):
        out = output[0] if isinstance(output, (tuple, list)) else output
        shp = "(-1, " + ", ".join(str(s) for s in out.shape[1:]) + ")" if torch.is_tensor(out) else "?"
        n_params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((names.get(module, "?"), type(module).__name__, shp, n_params))

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, *shape, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    w1 = max([len("Layer (type)")] + [len(f"{n} ({t})") for n, t, _, _ in rows]) + 2
    w2 = max([len("Output shape")] + [len(s) for _, _, s, _ in rows]) + 2
    line = "-" * (w1 + w2 + 12)
    out = [f'Model: "{getattr(model, "name", type(model).__name__)}"  input (-1, '
           + ", ".join(map(str, shape)) + ")", line,
           f"{'Layer (type)':<{w1}}{'Output shape':<{w2}}{'Param #':>12}", "=" * len(line)]
    out += [f"{n + ' (' + t + ')':<{w1}}{s:<{w2}}{p:>12,}" for n, t, s, p in rows]
    out += ["=" * len(line), f"Total params: {total:,}", f"Trainable params: {trainable:,}",
            f"Non-trainable params: {total - trainable:,}"]
    return "\n".join(out)
