"""``shared-encoder``: one encoder shared by several domains, one decoder per domain.

Trained to reconstruct each domain's samples through that domain's decoder (the ``"domain-mse"`` objective,
:mod:`aekit.objectives`), the encoder learns one code for every domain; decoding a sample of one domain with
another domain's decoder translates it (the two-decoder autoencoder of the "DeepFake" tutorials; with the codes
of the domains aligned, the shared latent space of Liu et al., "Unsupervised image-to-image translation
networks", NeurIPS 2017). The encoder and the decoders are those of a plain ``base`` family (``mlp`` or ``conv``),
built with its arguments.

``forward(x, domain)``: ``domain`` (B,) int64 picks each row's decoder (all rows domain 0 when omitted).
"""
from __future__ import annotations

import torch
from torch import nn

from aekit.models.base import Autoencoder, ModelOutput, create_model, register_model
from aekit.validation import Instance, Integer, NoneOr, Options

BASES = ("mlp", "conv", "linear")   # families whose encode / decode are their encoder / decoder modules alone


@register_model("shared-encoder")
class SharedEncoder(Autoencoder):
    """One ``base`` encoder and ``n_domains`` ``base`` decoders (each built from its own initial weights)."""

    input_kinds = ("table", "image")
    example_input_shape = (20,)
    _constraints = {**Autoencoder._constraints, "base": Options(*BASES), "n_domains": Integer(2),
                    "base_params": NoneOr(Instance(dict, what="a dict of the base model's arguments"))}

    def __init__(self, *, input_shape, latent_dim: int = 8, base: str = "mlp", n_domains: int = 2,
                 base_params: dict | None = None):
        self._check_args(latent_dim=latent_dim, base=base, n_domains=n_domains, base_params=base_params)
        models = [create_model(base, input_shape=input_shape, latent_dim=latent_dim, **(base_params or {}))
                  for _ in range(int(n_domains))]
        super().__init__(input_shape=input_shape, latent_dim=latent_dim,
                         output_activation=models[0].output_activation)
        self.n_domains = int(n_domains)
        self.encoder = models[0].encoder
        self.decoders = nn.ModuleList(m.decoder for m in models)
        self.config = {"latent_dim": int(latent_dim), "base": base, "n_domains": self.n_domains,
                       "base_params": dict(base_params or {})}

    def decode_logits(self, z: torch.Tensor, domain: int = 0) -> torch.Tensor:
        """(B, latent_dim) -> (B, *input_shape) through domain ``domain``'s decoder, before the output activation."""
        return self.decoders[domain](z)

    def decode(self, z: torch.Tensor, domain: int = 0) -> torch.Tensor:
        return self.out_act(self.decode_logits(z, domain))

    def forward(self, x: torch.Tensor, domain: torch.Tensor | None = None) -> ModelOutput:
        code = self.encode(x)                                                    # (B, latent_dim)
        if domain is None:
            pre = self.decode_logits(code)
        else:
            pre = None
            for i in range(self.n_domains):
                rows = (domain == i).nonzero().squeeze(1)
                if len(rows):
                    part = self.decode_logits(code[rows], i)                    # (b_i, *input_shape)
                    pre = part.new_zeros(len(x), *part.shape[1:]) if pre is None else pre
                    pre = pre.index_copy(0, rows, part)
        return ModelOutput(self.out_act(pre), code, pre, {}, {})
