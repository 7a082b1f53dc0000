"""Vector-quantised autoencoder ``vq-vae`` and the autoregressive prior over its code grids.

van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017
(arXiv 1711.00937): a conv encoder to a grid of vectors, each replaced by its nearest codebook entry,
straight-through gradients, the commitment loss, and (appendix A.1) codebook updates by exponential moving
averages. Razavi, van den Oord & Vinyals, "Generating Diverse High-Fidelity Images with VQ-VAE-2", NeurIPS
2019 (arXiv 1906.00446): EMA codebooks and a learned autoregressive prior over the codes. Dead-code
restarts (codes unused for a while replaced by current encoder outputs): Dhariwal et al., "Jukebox: A
Generative Model for Music" (arXiv 2005.00341), section 3.2; k-means initialisation of the codebook from the
first batch: Łańcucki et al., "Robust Training of Vector Quantized Bottleneck Models" (arXiv 2005.08520).

The prior (:class:`CodePrior`) is a small causal transformer over the raster-ordered code grid (instead
of the paper's PixelCNN: no blind spot, and the grids are small). It is a submodule of the model, so its
weights are saved with it; it is trained in a later stage of the fit, through the same Trainer
(:meth:`VQVAE.prior_stage`; :func:`aekit.training.fit_prior` trains it alone), then ``model.sample(n)``.

Scale: the ``commitment`` (and, without EMA, ``codebook``) regularisers are means per latent element, as in
the reference implementation; the reconstruction loss is a mean per input element.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from aekit.layers import conv_block, get_activation, init_weights
from aekit.losses import codebook_stats, vq_losses
from aekit.models.base import Autoencoder, ModelOutput, Stage, register_model
from aekit.validation import Boolean, Integer, NoneOr, Real, check_params


def _dist():
    """torch.distributed when a process group is running (DDP under torchrun), else None."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed
    return None


def _nearest(flat: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (squared Euclidean distance): (N, D), (K, D) -> (N,).

    |z|^2 is the same for every code, so it is left out: |e|^2 - 2 z.e ranks the codes alike with less
    rounding (PyTorch and ONNX Runtime then agree on near ties).
    """
    score = codebook.pow(2).sum(1).unsqueeze(0) - 2 * flat @ codebook.t()   # (N, K)
    return score.argmin(dim=1)


def _counts(idx: torch.Tensor, k: int, dtype: torch.dtype) -> torch.Tensor:
    """How often each of the k codes occurs in idx (N,) -> (k,)."""
    return torch.zeros(k, dtype=dtype, device=idx.device).index_add(0, idx, torch.ones_like(idx, dtype=dtype))


class VectorQuantizer(nn.Module):
    """Nearest-code quantisation of (B, D, h, w) grids with a codebook of K entries.

    Training mode only (under no_grad): k-means initialisation on the first batch, EMA updates of the
    codebook (``ema=True``), restarts of codes unused for ``restart_after`` steps. Eval mode is a pure
    function (argmin + lookup). The buffer ``initialised`` is saved, so a loaded model is not re-initialised.
    """

    def __init__(self, codebook_size: int, dim: int, *, commitment: float, ema: bool, decay: float,
                 epsilon: float, kmeans_iters: int, restart_after: int | None):
        super().__init__()
        self.codebook_size, self.dim = codebook_size, dim
        self.commitment, self.ema, self.decay, self.epsilon = commitment, ema, decay, epsilon
        self.kmeans_iters, self.restart_after = kmeans_iters, restart_after
        init = torch.empty(codebook_size, dim).uniform_(-1.0 / codebook_size, 1.0 / codebook_size)  # (K, D)
        if ema:
            self.register_buffer("embedding", init)
            self.register_buffer("cluster_size", torch.ones(codebook_size))  # EMA of the code counts N_i
            self.register_buffer("embed_sum", init.clone())                  # EMA of the summed vectors m_i
        else:
            self.embedding = nn.Parameter(init)
        self.register_buffer("initialised", torch.tensor(kmeans_iters == 0))
        self.register_buffer("unused_steps", torch.zeros(codebook_size, dtype=torch.long))
        self.n_restarts = 0  # codes restarted by this instance (for inspection; not saved)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, h, w) indices -> (B, D, h, w) code vectors."""
        return F.embedding(idx, self.embedding).permute(0, 3, 1, 2)

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (B, h, w) nearest-code indices; no side effects."""
        b, d, h, w = z.shape
        return _nearest(z.permute(0, 2, 3, 1).reshape(-1, d).float(), self.embedding).view(b, h, w)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict, dict]:
        """z (B, D, h, w) -> quantised (B, D, h, w; straight-through in training), indices (B, h, w),
        regularisers, stats."""
        b, d, h, w = z.shape
        # codebook arithmetic in float32, also under bf16 autocast (counts, EMA sums, distances)
        flat = z.permute(0, 2, 3, 1).reshape(-1, d).float()               # (N, D), N = B*h*w
        if self.training and not bool(self.initialised):
            self._kmeans_init(flat.detach())
        idx = _nearest(flat, self.embedding)                               # (N,)
        q = F.embedding(idx, self.embedding).view(b, h, w, d).permute(0, 3, 1, 2)  # (B, D, h, w)
        regs = vq_losses(z, q, self.commitment, codebook=not self.ema)
        counts = _counts(idx, self.codebook_size, flat.dtype)              # (K,)
        stats = codebook_stats(counts)
        if self.training:
            with torch.no_grad():
                global_counts = self._update(flat.detach(), idx, counts)
                if self.restart_after is not None:
                    self._restart_dead(flat.detach(), global_counts)
            q = z + (q - z).detach()  # straight-through: the decoder's gradient flows to the encoder
        return q, idx.view(b, h, w), regs, stats

    # ------------------------------------------------------------------ training-time codebook updates
    @torch.no_grad()
    def _kmeans_init(self, flat: torch.Tensor) -> None:
        """A few Lloyd iterations on the batch's vectors (sampled with replacement when fewer than K)."""
        n, k = len(flat), self.codebook_size
        if n >= k:
            centroids = flat[torch.randperm(n, device=flat.device)[:k]].clone()
        else:
            jitter = 0.01 * flat.std().clamp_min(1e-6)
            centroids = flat[torch.randint(n, (k,), device=flat.device)]
            centroids = centroids + jitter * torch.randn_like(centroids)
        counts = torch.ones(k, dtype=flat.dtype, device=flat.device)
        for _ in range(self.kmeans_iters):
            idx = _nearest(flat, centroids)
            counts = _counts(idx, k, flat.dtype)
            sums = torch.zeros_like(centroids).index_add(0, idx, flat)
            centroids = torch.where((counts > 0).unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centroids)
        self.embedding.data.copy_(centroids)
        if self.ema:
            self.cluster_size.copy_(counts.clamp_min(1))
            self.embed_sum.copy_(centroids * self.cluster_size.unsqueeze(1))
        self.initialised.fill_(True)
        self._broadcast()

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """EMA step (van den Oord et al. 2017, appendix A.1) with Laplace smoothing of the counts; returns
        the code counts summed over processes."""
        counts = counts.clone()
        sums = torch.zeros_like(self.embedding).index_add(0, idx, flat) if self.ema else None  # (K, D)
        dist = _dist()
        if dist is not None:
            dist.all_reduce(counts)
            if sums is not None:
                dist.all_reduce(sums)
        if self.ema:
            self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
            self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
            total = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.epsilon) / (total + self.codebook_size * self.epsilon) * total
            self.embedding.copy_(self.embed_sum / smoothed.unsqueeze(1))
        return counts

    @torch.no_grad()
    def _restart_dead(self, flat: torch.Tensor, counts: torch.Tensor) -> None:
        """Codes unused for ``restart_after`` steps jump to random encoder outputs of this batch."""
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        dead = self.unused_steps >= self.restart_after
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        picked = flat[torch.randint(len(flat), (n_dead,), device=flat.device)]  # (n_dead, D)
        self.embedding.data[dead] = picked
        if self.ema:
            self.cluster_size[dead] = 1.0
            self.embed_sum[dead] = picked
        self.unused_steps[dead] = 0
        self.n_restarts += n_dead
        self._broadcast()

    def _broadcast(self) -> None:
        """Under DDP, every process takes the first process's codebook (random choices differ)."""
        dist = _dist()
        if dist is None:
            return
        for t in (self.embedding.data, *((self.cluster_size, self.embed_sum) if self.ema else ())):
            dist.broadcast(t, 0)


class CodePrior(nn.Module):
    """Autoregressive prior p(c) = prod_t p(c_t | c_<t) over an (h, w) grid of code indices in raster
    order: a small causal (pre-norm) transformer with learned positions and a start token."""

    def __init__(self, codebook_size: int, grid: tuple[int, int], *, channels: int = 64, layers: int = 2,
                 heads: int = 4):
        super().__init__()
        self.codebook_size, self.grid = codebook_size, tuple(grid)
        length = grid[0] * grid[1]
        self.token = nn.Embedding(codebook_size + 1, channels)  # the last token starts every sequence
        self.position = nn.Parameter(torch.randn(length, channels) * 0.02)
        layer = nn.TransformerEncoderLayer(channels, heads, 4 * channels, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(channels)
        self.head = nn.Linear(channels, codebook_size)
        self.register_buffer("causal_mask", nn.Transformer.generate_square_subsequent_mask(length), persistent=False)
        self.register_buffer("fitted", torch.tensor(False))  # set once trained; saved with the model
        # trained in its own stage only (VQVAE.prior_stage): frozen otherwise, so the autoencoder's optimiser
        # (and DDP, which rejects parameters without gradients) leaves it alone
        self.requires_grad_(False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, h, w) indices -> (B, K, h, w) logits; position t sees only the codes before it."""
        b = idx.shape[0]
        seq = idx.flatten(1)                                                            # (B, L)
        start = torch.full((b, 1), self.codebook_size, dtype=seq.dtype, device=seq.device)
        inp = torch.cat([start, seq[:, :-1]], dim=1)                                    # (B, L), shifted right
        hid = self.token(inp) + self.position                                           # (B, L, C)
        hid = self.blocks(hid, mask=self.causal_mask, is_causal=True)                   # (B, L, C)
        logits = self.head(self.norm(hid))                                              # (B, L, K)
        return logits.transpose(1, 2).reshape(b, self.codebook_size, *self.grid)         # (B, K, h, w)

    def nll(self, idx: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood in nats per code of (B, h, w) indices."""
        return F.cross_entropy(self(idx), idx)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Draw n grids code by code: (n, h, w) long."""
        device = self.position.device
        length = self.grid[0] * self.grid[1]
        seq = torch.zeros(n, length, dtype=torch.long, device=device)
        for t in range(length):
            logits = self(seq.view(n, *self.grid)).flatten(2)[:, :, t]                  # (n, K)
            probs = torch.softmax(logits / temperature, dim=1)
            seq[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return seq.view(n, *self.grid)


class _ResidualBlock(nn.Module):
    """x + conv1x1(act(conv3x3(act(x)))), as in the VQ-VAE paper's encoder and decoder."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        self.body = nn.Sequential(get_activation(activation), nn.Conv2d(channels, channels, 3, padding=1),
                                  get_activation(activation), nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model("vq-vae")
class VQVAE(Autoencoder):
    """(C, H, W) images -> a (latent_dim, H / 2**downsample, W / 2**downsample) grid of codebook vectors.

    ``latent_dim`` is the codebook vectors' dimension; ``code`` is the quantised grid (B, latent_dim, h, w).
    ``channels`` hidden channels at every stage, ``downsample`` stride-2 stages, ``residual_blocks`` on
    each side; ``ema``: EMA codebook updates (else a ``codebook`` loss trains the codebook by gradient);
    ``kmeans_iters``: Lloyd iterations for the first-batch initialisation (0: keep the random codebook);
    ``restart_after``: steps without use after which a code restarts (None: never); ``prior_*``: the
    size of the :class:`CodePrior`, which :func:`aekit.training.train_autoencoder` trains (a later stage,
    objective ``"prior-nll"``) for ``prior_epochs`` epochs on up to 20,000 training samples once the autoencoder
    is trained (0: leave it to an explicit :func:`aekit.training.fit_prior` call).
    """

    input_kinds = ("image",)
    example_input_shape = (1, 16, 16)
    overcomplete_ok = True  # each code vector is one of codebook_size entries: the codebook limits the code
    _constraints = {
        **Autoencoder._constraints, "codebook_size": Integer(1), "channels": Integer(1),
        "downsample": Integer(0), "residual_blocks": Integer(0), "commitment": Real(0), "ema": Boolean(),
        "decay": Real(0, 1, closed="neither"), "epsilon": Real(0, closed="neither"), "kmeans_iters": Integer(0),
        "restart_after": NoneOr(Integer(1)), "prior_channels": Integer(1), "prior_layers": Integer(1),
        "prior_heads": Integer(1), "prior_epochs": Integer(0)}

    def later_stages(self) -> list[Stage]:
        """The prior over code indices, trained for ``prior_epochs`` epochs once the autoencoder is (none when 0)."""
        return [self.prior_stage(epochs=self.prior_epochs)] if self.prior_epochs > 0 else []

    def prior_stage(self, *, epochs: int, batch_size: int = 64, lr: float = 1e-3) -> Stage:
        """The stage that trains :attr:`prior` (objective ``"prior-nll"``) on the code indices of training inputs."""
        return Stage("prior", self.prior, "prior-nll", self.code_records, int(epochs), self._prior_fitted,
                     batch_size=int(batch_size), lr=float(lr))

    @torch.no_grad()
    def code_records(self, x: torch.Tensor) -> dict:
        """``{"codes": (N, h, w) int64}``: the code indices of inputs ``x`` (N, *input_shape), 1024 at a time."""
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            x = torch.as_tensor(x, dtype=torch.float32)
            return {"codes": torch.cat([self.encode_indices(x[i:i + 1024].to(device))
                                        for i in range(0, len(x), 1024)]).cpu()}
        finally:
            self.train(was_training)

    def _prior_fitted(self) -> None:
        self.prior.fitted.fill_(True)

    def __init__(self, *, input_shape, latent_dim: int = 64, codebook_size: int = 512, channels: int = 32,
                 downsample: int = 2, residual_blocks: int = 2, activation: str = "gelu",
                 output_activation: str | None = "clamp", commitment: float = 0.25, ema: bool = True,
                 decay: float = 0.99, epsilon: float = 1e-5, kmeans_iters: int = 10, restart_after: int | None = 100,
                 prior_channels: int = 64, prior_layers: int = 2, prior_heads: int = 4, prior_epochs: int = 5):
        name = "vq-vae"
        if len(input_shape) != 3:
            raise ValueError(f"model {name!r} needs images shaped (C, H, W), got input_shape={tuple(input_shape)}")
        self._check_args(latent_dim=latent_dim, codebook_size=codebook_size, channels=channels, downsample=downsample,
                         residual_blocks=residual_blocks, commitment=commitment, ema=ema, decay=decay, epsilon=epsilon,
                         kmeans_iters=kmeans_iters, restart_after=restart_after, prior_channels=prior_channels,
                         prior_layers=prior_layers, prior_heads=prior_heads, prior_epochs=prior_epochs)
        if prior_channels % prior_heads:
            raise ValueError(f"model {name!r}: prior_channels={prior_channels} must be divisible by "
                             f"prior_heads={prior_heads}")
        c_in, h, w = (int(s) for s in input_shape)
        factor = 2 ** downsample
        if h % factor or w % factor:
            raise ValueError(f"model {name!r}: image size {h}x{w} is not divisible by the down-sampling factor "
                             f"{factor} (2 ** downsample={downsample}); resize the images or use fewer stages")
        super().__init__(input_shape=input_shape, latent_dim=latent_dim, output_activation=output_activation)
        get_activation(activation)
        self.grid = (h // factor, w // factor)

        enc: list[nn.Module] = []
        prev = c_in
        for _ in range(downsample):  # each stage: (B, prev, h, w) -> (B, channels, h/2, w/2)
            enc.append(conv_block(prev, channels, stride=2, activation=activation, norm=False))
            prev = channels
        enc.append(nn.Conv2d(prev, channels, 3, padding=1))
        enc += [_ResidualBlock(channels, activation) for _ in range(residual_blocks)]
        enc += [get_activation(activation), nn.Conv2d(channels, latent_dim, 1)]        # (B, D, h, w)
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Conv2d(latent_dim, channels, 3, padding=1)]          # (B, channels, h, w)
        dec += [_ResidualBlock(channels, activation) for _ in range(residual_blocks)]
        dec.append(get_activation(activation))
        for _ in range(downsample):  # each stage: (B, channels, h, w) -> (B, channels, 2h, 2w)
            dec += [nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1), get_activation(activation)]
        dec.append(nn.Conv2d(channels, c_in, 3, padding=1))                            # (B, C, H, W)
        self.decoder = nn.Sequential(*dec)
        init_weights(self.encoder)
        init_weights(self.decoder)

        self.quantizer = VectorQuantizer(codebook_size, latent_dim, commitment=float(commitment), ema=bool(ema),
                                         decay=float(decay), epsilon=float(epsilon), kmeans_iters=kmeans_iters,
                                         restart_after=restart_after)
        self.prior_epochs = int(prior_epochs)
        self.prior = CodePrior(codebook_size, self.grid, channels=prior_channels, layers=prior_layers,
                               heads=prior_heads)

    @property
    def code_shape(self) -> tuple[int, ...]:
        return (self.latent_dim, *self.grid)

    # ------------------------------------------------------------------ codes
    def encode_indices(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> (B, h, w) code indices (no codebook updates, in any mode)."""
        return self.quantizer.indices(self.encoder(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> the quantised grid (B, latent_dim, h, w), without codebook updates."""
        return self.quantizer.lookup(self.encode_indices(x))

    def decode_indices(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code indices -> (B, *input_shape)."""
        return self.decode(self.quantizer.lookup(idx))

    def forward(self, x: torch.Tensor) -> ModelOutput:
        z = self.encoder(x)                                 # (B, D, h, w)
        q, _, regs, stats = self.quantizer(z)               # (B, D, h, w)
        pre = self.decoder(q)                               # (B, C, H, W)
        return ModelOutput(self.out_act(pre), q, pre, regs, stats)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Draw n code grids from the fitted prior and decode them: (n, *input_shape)."""
        check_params("sample", {"n": n, "temperature": temperature},
                     {"n": Integer(1), "temperature": Real(0, closed="neither")})
        if not bool(self.prior.fitted):
            raise ValueError("this vq-vae has no fitted prior over its codes, so it cannot sample; "
                             "call aekit.training.fit_prior(model, X) first")
        was_training = self.training
        self.eval()
        try:
            return self.decode_indices(self.prior.sample(n, generator, temperature))
        finally:
            self.train(was_training)
