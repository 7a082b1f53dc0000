"""A residual stack of 3x3 convolutions for image restoration, optionally on pixel-unshuffled images.

Zhang et al., "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image Denoising" (DnCNN),
IEEE TIP 2017: ``depth`` 3x3 convolutions of ``latent_dim`` channels with ReLU that predict the residual
(the noise), not the clean image. DnCNN needs batch normalisation to train at that depth; here the
convolutions between the first and the last are paired into residual blocks instead (conv-ReLU-conv plus
the block's input, the second convolution scaled by 0.1 at initialisation), as in Lim et al., "Enhanced
Deep Residual Networks for Single Image Super-Resolution" (EDSR), CVPRW 2017: a plain 15-layer stack of
this kind stayed at the identity on photographs for two epochs, where the blocks learn from the first. Zhang, Zuo &
Zhang, "FFDNet", IEEE TIP 2018: the same stack run on the
image reversibly cut into ``shuffle`` x ``shuffle`` sub-images (pixel unshuffle), which makes each layer
``shuffle**2`` times cheaper and the receptive field ``shuffle`` times wider; a noise-level map enters as
one more input channel. Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network" (ESPCN), CVPR 2016: the last layer's channels are put back into
pixels (pixel shuffle). Kim et al., "VDSR", CVPR 2016: the correction of a bicubic enlargement learnt the
same way. No pooling and no skip connections: what a restorer needs on 2 CPU cores is a wide receptive
field for few operations per pixel, which the unshuffle gives.
"""
from __future__ import annotations

import torch
from torch import nn

from aekit.layers import get_activation, init_weights
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.validation import Boolean, Integer, NoneOr


class ResidualBlock(nn.Module):
    """(B, c, h, w) -> itself plus conv-activation-conv of itself (EDSR's block, without normalisation)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), get_activation(activation),
                                  nn.Conv2d(width, width, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("residual-cnn")
class ResidualCNN(Autoencoder):
    """(C, H, W) images to (out_channels, H, W); H and W must divide by ``shuffle``.

    ``latent_dim``: channels of the hidden layers; ``depth``: number of 3x3 convolutions (>= 2: the first,
    ``(depth - 2) // 2`` residual blocks of two, the last);
    ``shuffle``: side of the sub-image grid the stack runs on (1: DnCNN / VDSR, 2: FFDNet);
    ``out_channels``: output channels (``None``: the input's); ``residual``: add the input's first
    ``out_channels`` channels to the output (the stack learns the correction and starts as the identity,
    its last layer at zero; off by default as for the U-Net, on in a :class:`aekit.Restorer`). ``code`` is the last
    hidden feature map (B, latent_dim, H / shuffle, W / shuffle);
    it is not a code the output can be decoded from alone (``can_decode`` is False).
    """

    input_kinds = ("image",)
    example_input_shape = (1, 16, 16)
    can_decode = False
    overcomplete_ok = True   # a restorer, not a compressor: the hidden maps are wider than the input
    sparse_code = True       # the code is a ReLU feature map: many zeros are its nature, not a collapse
    _constraints = {**Autoencoder._constraints, "depth": Integer(2), "shuffle": Integer(1),
                    "out_channels": NoneOr(Integer(1)), "residual": Boolean()}

    def __init__(self, *, input_shape, latent_dim: int = 64, depth: int = 15, shuffle: int = 2,
                 activation: str = "relu", out_channels: int | None = None, output_activation: str | None = "clamp",
                 residual: bool = False):
        if len(input_shape) != 3:
            raise ValueError(f"model 'residual-cnn' needs images shaped (C, H, W), got input_shape="
                             f"{tuple(input_shape)}")
        self._check_args(latent_dim=latent_dim, depth=depth, shuffle=shuffle, out_channels=out_channels,
                         residual=residual)
        c_in, h, w = (int(s) for s in input_shape)
        if h % shuffle or w % shuffle:
            raise ValueError(f"model 'residual-cnn': image size {h}x{w} is not divisible by shuffle={shuffle}; "
                             f"pad the images or use a smaller shuffle")
        c_out = int(out_channels or c_in)
        if residual and c_out > c_in:
            raise ValueError(f"model 'residual-cnn': residual=True adds the input's first out_channels channels to "
                             f"the output; it needs out_channels <= {c_in} input channels (got {c_out})")
        get_activation(activation)  # names a bad activation before any layer is built
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        self.depth, self.shuffle, self.out_channels, self.residual = int(depth), int(shuffle), c_out, bool(residual)
        s2, width = self.shuffle ** 2, int(latent_dim)
        blocks = [ResidualBlock(width, activation) for _ in range((self.depth - 2) // 2)]
        self.encoder = nn.Sequential(nn.PixelUnshuffle(self.shuffle), nn.Conv2d(c_in * s2, width, 3, padding=1),
                                     get_activation(activation), *blocks)          # (B, width, H / s, W / s)
        self.decoder = nn.Sequential(nn.Conv2d(width, c_out * s2, 3, padding=1), nn.PixelShuffle(self.shuffle))
        init_weights(self)
        with torch.no_grad():
            for block in blocks:        # each block starts near the identity (EDSR's residual scaling)
                block.body[2].weight.mul_(0.1)
        if self.residual:   # start as the identity: the stack learns the correction (DnCNN's residual learning)
            nn.init.zeros_(self.decoder[0].weight)
            nn.init.zeros_(self.decoder[0].bias)

    @classmethod
    def input_multiple(cls, params: dict) -> int:
        """What image sides must divide by for these model arguments: ``shuffle``."""
        return int(params.get("shuffle", 2))

    @property
    def size_factor(self) -> int:
        """What image sides must divide by (tiling pads to it)."""
        return self.shuffle

    @property
    def code_shape(self) -> tuple[int, ...]:
        _, h, w = self.input_shape
        return (self.latent_dim, h // self.shuffle, w // self.shuffle)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise TypeError("residual-cnn cannot decode a code alone: its output is a correction of the input; "
                        "call model(x)")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(z)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        code = self.encoder(x)                  # (B, latent_dim, H / s, W / s)
        pre = self.decoder(code)                # (B, out_channels, H, W)
        if self.residual:
            pre = pre + x[:, :self.out_channels]
        return ModelOutput(self.out_act(pre), code, pre, {}, {})
