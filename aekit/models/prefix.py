"""``prefix-code``: one encoder whose code is ordered, and one decoder per code size.

A model trained for an ordered code (the ``"ordered-mse"`` objective, :mod:`aekit.objectives`) is decoded from
the first ``k`` values of its code for many ``k``. With one decoder for every ``k``, absent units read as zero,
and that decoder's weights are shared by every size: on MNIST (mlp, 10,000 digits, 5 epochs) such a model's
MSE from all 32 units was 1.59x a model trained for 32 units alone (benchmarks/results/ordered-codes.md). Here
the code is the one encoder's, and each size ``k`` of :func:`aekit.objectives.prefix_sizes` (1, 2, 4, ...,
``latent_dim``) has its own decoder, built as the ``base`` family's decoder for a ``k``-value code, which reads
the first ``k`` values alone: the Matryoshka arrangement (Kusupati et al., "Matryoshka representation
learning", NeurIPS 2022: one nested code, one head per size) applied to reconstruction. A code of a width
between two sizes is decoded from its first values up to the size below it.

``decode(z)`` takes a code ``(B, k)`` with ``1 <= k <= latent_dim``: its first ``k`` values (the rest absent).
"""
from __future__ import annotations

from torch import nn

from aekit.models.base import Autoencoder, create_model, register_model
from aekit.validation import Instance, NoneOr, Options

BASES = ("mlp", "conv", "linear")   # families whose encode / decode are their encoder / decoder modules alone


def _sizes(latent_dim: int) -> list[int]:
    from aekit.objectives import prefix_sizes   # the sizes the objective trains (imported late: no cycle)

    return prefix_sizes(latent_dim)


@register_model("prefix-code")
class PrefixCode(Autoencoder):
    """A ``base`` encoder of ``latent_dim`` values and a ``base`` decoder for each prefix size of its code."""

    input_kinds = ("table", "image")
    example_input_shape = (20,)
    decodes_prefixes = True   # decode() takes the first k values of a code, (B, k)
    _constraints = {**Autoencoder._constraints, "base": Options(*BASES),
                    "base_params": NoneOr(Instance(dict, what="a dict of the base model's arguments"))}

    def __init__(self, *, input_shape, latent_dim: int = 8, base: str = "mlp", base_params: dict | None = None):
        self._check_args(latent_dim=latent_dim, base=base, base_params=base_params)
        self.sizes = _sizes(int(latent_dim))
        models = [create_model(base, input_shape=input_shape, latent_dim=k, **(base_params or {}))
                  for k in self.sizes]
        super().__init__(input_shape=input_shape, latent_dim=latent_dim,
                         output_activation=models[-1].output_activation)
        self.encoder = models[-1].encoder
        self.decoders = nn.ModuleList(m.decoder for m in models)   # decoders[i] reads the first sizes[i] values
        self.config = {"latent_dim": int(latent_dim), "base": base, "base_params": dict(base_params or {})}

    def decode_logits(self, z):
        """(B, k) -> (B, *input_shape), before the output activation: the code's first ``k`` values decoded by
        the decoder of the largest size not above ``k``."""
        k, d = z.shape[1], self.latent_dim
        if not 1 <= k <= d:
            raise ValueError(f"model 'prefix-code': a code of {k} values; expected from 1 to latent_dim={d}")
        i = max(i for i, size in enumerate(self.sizes) if size <= k)
        return self.decoders[i](z[:, :self.sizes[i]])
