"""U-Net: a convolutional encoder-decoder whose decoder also sees the encoder's feature maps.

Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image Segmentation",
MICCAI 2015 (arXiv 1505.04597). Per level two 3x3 convolutions, 2x2 max-pooling down, 2x2 transposed
convolution (or nearest-neighbour upsampling + 3x3 convolution, Odena et al., Distill 2016) up, and the
up-sampled map concatenated with the encoder's map of the same size (the skip connection). Unlike the
paper, convolutions are padded so outputs keep the input's size.

Two uses:
- image-to-image (``num_classes=0``, the default): ``recon`` has ``out_channels`` channels (the input's by
  default), linear output clamped to [0, 1] at evaluation; denoising, inpainting, restoration.
- segmentation (``num_classes >= 2``): ``recon`` and ``pre_output`` are (B, num_classes, H, W) class
  logits (no output activation), NOT an image shaped like the input; train them against integer class
  maps with :func:`aekit.losses.segmentation_loss`.

``code`` is the bottleneck feature map (B, latent_dim, H / 2**len(channels), W / 2**len(channels)). It is
not a complete description of the input: the decoder also needs the skip connections, so
``can_decode`` is False and :meth:`UNet.decode` raises ``TypeError``.
"""
from __future__ import annotations

import torch
from torch import nn

from aekit.layers import conv_block, get_activation, init_weights
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.validation import Boolean, Integer, ListOf, NoneOr, Options

UPSAMPLE = ("transpose", "nearest")


def double_conv(c_in: int, c_out: int, *, activation: str, norm: bool) -> nn.Sequential:
    """Two 3x3 convolutions (+ BatchNorm) + activation: (B, c_in, h, w) -> (B, c_out, h, w)."""
    return nn.Sequential(conv_block(c_in, c_out, stride=1, activation=activation, norm=norm),
                         conv_block(c_out, c_out, stride=1, activation=activation, norm=norm))


class UNetEncoder(nn.Module):
    """(B, C, H, W) -> (code, skips): the bottleneck map and the feature map of every level above it."""

    def __init__(self, c_in: int, channels: list[int], bottleneck: int, *, activation: str, norm: bool):
        super().__init__()
        widths = [c_in, *channels]
        self.levels = nn.ModuleList(double_conv(a, b, activation=activation, norm=norm)
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = double_conv(channels[-1], bottleneck, activation=activation, norm=norm)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for level in self.levels:
            x = level(x)             # (B, c_i, h, w)
            skips.append(x)
            x = self.pool(x)         # (B, c_i, h/2, w/2)
        return self.bottleneck(x), skips  # (B, latent_dim, H/2**L, W/2**L), [(B, c_i, H/2**i, W/2**i)]


class UNetDecoder(nn.Module):
    """(code, skips) -> (B, out, H, W): up-sample, concatenate the skip of that size, two convolutions."""

    def __init__(self, channels: list[int], bottleneck: int, c_out: int, *, activation: str, norm: bool,
                 upsample: str):
        super().__init__()
        ups, blocks = [], []
        prev = bottleneck
        for c in channels[::-1]:  # deepest level first
            if upsample == "transpose":
                ups.append(nn.ConvTranspose2d(prev, c, 2, stride=2))
            else:
                ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(prev, c, 3, padding=1)))
            blocks.append(double_conv(2 * c, c, activation=activation, norm=norm))
            prev = c
        self.ups, self.blocks = nn.ModuleList(ups), nn.ModuleList(blocks)
        self.head = nn.Conv2d(prev, c_out, 1)

    def forward(self, code: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = code
        for up, block, skip in zip(self.ups, self.blocks, reversed(skips)):
            x = up(x)                           # (B, c, 2h, 2w)
            x = block(torch.cat([x, skip], 1))  # (B, 2c, 2h, 2w) -> (B, c, 2h, 2w)
        return self.head(x)                     # (B, out, H, W)


@register_model("unet")
class UNet(Autoencoder):
    """(C, H, W) images; H and W must be divisible by 2 ** len(channels).

    ``channels``: widths of the levels that have skip connections, top level first; the bottleneck level
    below them has ``latent_dim`` channels, so the defaults give the 16-32-64 U-Net of three levels.
    ``out_channels``: output channels for image-to-image use (``None``: the input's).
    ``num_classes``: 0 for image-to-image; >= 2 for segmentation, where the output is class logits
    (B, num_classes, H, W) whatever ``out_channels`` says.
    ``output_activation``: "auto" means "clamp" for image-to-image and None (logits) for segmentation.
    ``residual``: add the input's first ``out_channels`` channels to the output, so the network learns the
    correction (Kim et al., "VDSR", CVPR 2016); the output layer starts at zero, i.e. as the identity.
    """

    input_kinds = ("image",)
    example_input_shape = (1, 16, 16)

    can_decode = False
    overcomplete_ok = True  # skip connections carry the detail: the bottleneck is not the code
    _constraints = {**Autoencoder._constraints, "channels": ListOf(Integer(1), min_len=1),
                              "upsample": Options(*UPSAMPLE), "out_channels": NoneOr(Integer(1)),
                              "num_classes": Integer(0), "residual": Boolean()}

    def __init__(self, *, input_shape, latent_dim: int = 64, channels: tuple[int, ...] | list[int] = (16, 32),
                 activation: str = "gelu", batch_norm: bool = False, upsample: str = "transpose",
                 out_channels: int | None = None, num_classes: int = 0, output_activation: str | None = "auto",
                 residual: bool = False):
        if len(input_shape) != 3:
            raise ValueError(f"model 'unet' needs images shaped (C, H, W), got input_shape={tuple(input_shape)}")
        self._check_args(latent_dim=latent_dim, channels=channels, upsample=upsample, out_channels=out_channels,
                         num_classes=num_classes, residual=residual)
        channels = [int(c) for c in channels]
        if num_classes == 1:
            raise ValueError(f"model 'unet': num_classes={num_classes!r}, expected 0 (image-to-image) or >= 2 "
                             f"(segmentation; count the background as a class)")
        if num_classes and output_activation not in ("auto", None):
            raise ValueError(f"model 'unet': a segmentation U-Net (num_classes={num_classes}) outputs logits; "
                             f"output_activation={output_activation!r} must be 'auto' or None")
        c_in, h, w = (int(s) for s in input_shape)
        if residual and (num_classes or (out_channels or c_in) > c_in):
            raise ValueError("model 'unet': residual=True adds the input's first out_channels channels to the output; "
                             f"it needs image-to-image use with out_channels <= {c_in} input channels (got "
                             f"num_classes={num_classes}, out_channels={out_channels})")
        levels = len(channels) + 1
        factor = 2 ** (levels - 1)
        if h % factor or w % factor:
            raise ValueError(
                f"model 'unet': image size {h}x{w} is not divisible by {factor} = 2 ** (levels - 1) with "
                f"{levels} levels (channels={channels} + the bottleneck); resize or pad the images, or use "
                f"fewer channels entries")
        get_activation(activation)  # names a bad activation before any layer is built
        resolved = ("clamp" if not num_classes else None) if output_activation == "auto" else output_activation
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=resolved)
        self.num_classes = num_classes
        self.out_channels = num_classes or out_channels or c_in
        self.residual = residual
        self._code_shape = (latent_dim, h // factor, w // factor)
        self.encoder = UNetEncoder(c_in, channels, latent_dim, activation=activation, norm=batch_norm)
        self.decoder = UNetDecoder(channels, latent_dim, self.out_channels, activation=activation,
                                   norm=batch_norm, upsample=upsample)
        init_weights(self)
        if residual:  # start as the identity: the network learns the correction (VDSR's residual learning)
            nn.init.zeros_(self.decoder.head.weight)
            nn.init.zeros_(self.decoder.head.bias)

    @classmethod
    def input_multiple(cls, params: dict) -> int:
        """What image sides must divide by for these model arguments: 2 ** len(channels)."""
        return 2 ** len(params.get("channels", (16, 32)))

    @property
    def code_shape(self) -> tuple[int, ...]:
        """(latent_dim, H / 2**len(channels), W / 2**len(channels)): the bottleneck feature map."""
        return self._code_shape

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, *code_shape), the bottleneck map (the skips are dropped)."""
        return self.encoder(x)[0]

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        raise TypeError("unet cannot decode a code alone: its decoder needs the encoder's skip connections; "
                        "call model(x)")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_logits(z)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        code, skips = self.encoder(x)       # (B, latent_dim, h, w), one map per level
        pre = self.decoder(code, skips)     # (B, out_channels or num_classes, H, W)
        if self.residual:
            pre = pre + x[:, :self.out_channels]  # predict the correction to the input
        return ModelOutput(self.out_act(pre), code, pre, {}, {})
