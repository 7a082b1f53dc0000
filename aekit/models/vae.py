"""Variational autoencoders: ``vae`` (fully connected) and ``vae-conv`` (convolutional).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014 (arXiv 1312.6114): a Gaussian encoder
q(z|x) = N(mu(x), diag(sigma^2(x))), the reparameterisation z = mu + sigma * eps, a standard normal
prior and the evidence lower bound (ELBO). Higgins et al., "beta-VAE: Learning Basic Visual Concepts with
a Constrained Variational Framework", ICLR 2017: the KL term weighted by ``beta``. Burda, Grosse &
Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016 (arXiv 1509.00519): the K-sample importance
weighted bound, used here to estimate the negative log-likelihood (:func:`importance_weighted_nll`).

Scale of the loss. The training loop adds the mean reconstruction loss per input element to the model's
regularisers; the ``kl`` regulariser is ``beta_eff * KL / D`` (per-sample KL in nats, batch mean, D input
elements), so that

- Bernoulli decoder (``likelihood="bernoulli"``, sigmoid output, train with ``loss="bce"``): with
  ``beta=1`` the total loss is exactly -ELBO / D in nats per element on binary data;
- Gaussian decoder (``likelihood="gaussian"``, linear output clamped to [0, 1] at evaluation, train with
  ``loss="mse"``): MSE + beta * KL / D is -ELBO / D (up to a constant and a factor 2 sigma^2) for a
  Gaussian decoder with fixed variance sigma^2 = beta / 2 per element. ``beta=1`` thus assumes a noise
  standard deviation of about 0.71 in data units, which blurs; pick ``beta = 2 * sigma^2`` for the noise
  you expect (e.g. beta=0.02 for sigma=0.1) for sharper reconstructions.

The default is the Gaussian decoder, which matches the training loop's default ``loss="mse"``. On small
images (8x8 digits: D = 64) beta=1 leaves almost no information in the code under either likelihood
(posterior collapse: the ELBO is best served by outputting the mean image); use the Bernoulli decoder with
``loss="bce"``, a smaller beta, or ``kl_warmup_steps`` to keep more.
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.layers import init_weights, mlp
from aekit.losses import LOG_2PI, kl_standard_normal, log_normal_diag
from aekit.models.base import Autoencoder, ModelOutput, register_model
from aekit.models.conv import ConvAutoencoder
from aekit.models.dense import HIDDEN
from aekit.validation import Integer, Options, Real, check_params

LIKELIHOODS = ("bernoulli", "gaussian")
# the variational arguments of both families
VARIATIONAL_CONSTRAINTS = {"likelihood": Options(*LIKELIHOODS), "beta": Real(0, finite=True),
                           "kl_warmup_steps": Integer(0)}
_OUTPUT_ACTIVATION = {"bernoulli": "sigmoid", "gaussian": "clamp"}
LOGVAR_RANGE = (-30.0, 20.0)  # clamp log sigma^2 so exp() stays finite early in training


class VariationalAutoencoder(Autoencoder):
    """Shared VAE logic; subclasses build ``encoder`` (x -> (B, 2k): mu and log sigma^2) and ``decoder``.

    Training mode samples z = mu + sigma * eps; eval mode decodes mu, so it is deterministic (and exports
    to ONNX). ``code`` is always mu.
    """

    overcomplete_ok = True  # the KL term, not the width, limits the code

    def _init_variational(self, likelihood: str, beta: float, kl_warmup_steps: int) -> None:
        self.likelihood = likelihood
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.n_elements = math.prod(self.input_shape)
        self._step = 0  # set by the training loop; not saved (the loop sets it again on resume)

    def _init_decoder_input(self) -> None:
        """Zero the weights of the decoder's first (linear) layer: latent directions start unused and grow
        only where the data pulls them. Directions the KL term switches off (posterior collapse) then
        stay nearly flat, so decoding mu in eval mode (z = 0 there) matches what training saw around it,
        instead of extrapolating a function trained only on the shell |z| ~ sqrt(k) of N(0, I)."""
        first = next(m for m in self.decoder.modules() if isinstance(m, nn.Linear))
        nn.init.zeros_(first.weight)

    # ------------------------------------------------------------------ schedule
    def set_training_progress(self, step: int, total_steps: int) -> None:
        self._step = int(step)

    @property
    def beta_eff(self) -> float:
        """The KL weight used in training mode: beta * min(1, step / kl_warmup_steps)."""
        if self.kl_warmup_steps == 0:
            return self.beta
        return self.beta * min(1.0, self._step / self.kl_warmup_steps)

    # ------------------------------------------------------------------ encoder / decoder
    def encode_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, *input_shape) -> mu, log sigma^2, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, k), (B, k)
        return mu, logvar.clamp(*LOGVAR_RANGE)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) -> the posterior mean mu (B, latent_dim)."""
        return self.encode_stats(x)[0]

    def forward(self, x: torch.Tensor) -> ModelOutput:
        mu, logvar = self.encode_stats(x)                                          # (B, k) each
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu  # (B, k)
        pre = self.decode_logits(z)                                                # (B, *input_shape)
        kl = kl_standard_normal(mu, logvar).mean()                                 # nats per sample
        # the KL warm-up is a training device; evaluation reports the objective itself (full beta)
        weight = self.beta_eff if self.training else self.beta
        return ModelOutput(self.out_act(pre), mu, pre, {"kl": weight * kl / self.n_elements},
                           {"kl_nats": kl.detach()})

    # ------------------------------------------------------------------ generation
    @contextlib.contextmanager
    def _generating(self):
        """Run a generation method in eval mode (decoder mean, clamped output), then restore the mode."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws z ~ N(0, I): the decoder's mean, (n, *input_shape)."""
        check_params("sample", {"n": n}, {"n": Integer(1)})
        device = next(self.parameters()).device
        with self._generating():
            z = torch.randn(n, self.latent_dim, generator=generator, device=device)  # (n, k)
            return self.decode(z)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode ``steps`` points on the line between the posterior means of x_a and x_b (each one
        sample, shaped ``input_shape`` or (1, *input_shape)): (steps, *input_shape), x_a's end first."""
        check_params("interpolate", {"steps": steps}, {"steps": Integer(2)})
        device = next(self.parameters()).device
        ends = []
        for label, x in (("x_a", x_a), ("x_b", x_b)):
            x = torch.as_tensor(x, dtype=torch.float32, device=device)
            if tuple(x.shape) == self.input_shape:
                x = x.unsqueeze(0)
            if tuple(x.shape) != (1, *self.input_shape):
                raise ValueError(f"interpolate: {label} must be shaped {self.input_shape} or "
                                 f"{(1, *self.input_shape)}, got {tuple(x.shape)}")
            ends.append(x)
        with self._generating():
            mu_a, mu_b = self.encode(ends[0]), self.encode(ends[1])           # (1, k) each
            t = torch.linspace(0.0, 1.0, steps, device=device).unsqueeze(1)   # (steps, 1)
            return self.decode((1 - t) * mu_a + t * mu_b)                     # (steps, *input_shape)

    # ------------------------------------------------------------------ likelihood
    def log_likelihood(self, x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over the input elements: x (B, *shape), decoder output (B, *shape) -> (B,).

        Bernoulli: -BCE with logits. Gaussian: the density with the variance the loss implies,
        sigma^2 = beta / 2 (see the module docstring); needs beta > 0.
        """
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
        var = self.beta / 2
        if var <= 0:
            raise ValueError("a Gaussian VAE with beta=0 has no finite likelihood (sigma^2 = beta / 2 = 0)")
        sq = (logits - x).pow(2).flatten(1).sum(1)
        return -0.5 * (sq / var + self.n_elements * (LOG_2PI + math.log(var)))


def _as_batch(model: VariationalAutoencoder, x, fn: str) -> torch.Tensor:
    if not isinstance(model, VariationalAutoencoder):
        raise TypeError(f"{fn} needs a variational model ('vae', 'vae-conv'), got {type(model).__name__}")
    device = next(model.parameters()).device
    x = torch.as_tensor(x, dtype=torch.float32, device=device)
    if tuple(x.shape[1:]) != model.input_shape:
        raise ValueError(f"{fn}: x must be shaped (B, *{model.input_shape}), got {tuple(x.shape)}")
    if model.likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{fn}: a Bernoulli decoder needs data in [0, 1] (binarised for a proper "
                         f"likelihood), got values in [{x.min().item():.3g}, {x.max().item():.3g}]")
    return x


_COUNTS = {"n_samples": Integer(1), "batch_size": Integer(1)}


@torch.no_grad()
def importance_weighted_nll(model: VariationalAutoencoder, x, n_samples: int = 1000, batch_size: int = 4096,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Negative log-likelihood estimate -log p(x) in nats per sample, (B,), by importance sampling.

    -log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), K = ``n_samples`` (Burda et al. 2016):
    an upper bound on the true NLL (in expectation) that tightens as K grows; K=1 is the ELBO. Meant for
    the Bernoulli decoder on binarised data (values 0/1); for a Gaussian decoder it uses the variance
    sigma^2 = beta / 2 the loss implies (a density, not comparable with discrete NLLs). At most
    ``batch_size`` (sample, z) pairs are decoded at once, which bounds the memory.
    """
    x = _as_batch(model, x, "importance_weighted_nll")
    check_params("importance_weighted_nll", {"n_samples": n_samples, "batch_size": batch_size}, _COUNTS)
    out = []
    with model._generating():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]                                   # (b, *shape)
            mu, logvar = model.encode_stats(xb)                                # (b, k) each
            std = torch.exp(0.5 * logvar)
            chunk = max(1, batch_size // len(xb))
            log_w = []
            for k0 in range(0, n_samples, chunk):
                kc = min(chunk, n_samples - k0)
                eps = torch.randn(kc, *mu.shape, generator=generator, device=mu.device)  # (kc, b, k)
                z = mu + std * eps                                                    # (kc, b, k)
                logits = model.decode_logits(z.flatten(0, 1))                          # (kc * b, *shape)
                target = xb.expand(kc, *xb.shape).flatten(0, 1)                        # (kc * b, *shape)
                log_px = model.log_likelihood(target, logits).view(kc, len(xb))        # (kc, b)
                log_pz = log_normal_diag(z, torch.zeros_like(z), torch.zeros_like(z))  # (kc, b)
                log_qz = log_normal_diag(z, mu, logvar)                                # (kc, b)
                log_w.append(log_px + log_pz - log_qz)
            log_w = torch.cat(log_w)                                                   # (K, b)
            out.append(math.log(n_samples) - torch.logsumexp(log_w, dim=0))
    return torch.cat(out)


@torch.no_grad()
def negative_elbo(model: VariationalAutoencoder, x, n_samples: int = 100, batch_size: int = 4096,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """-ELBO in nats per sample, (B,): E_q[-log p(x|z)] (Monte Carlo, ``n_samples`` draws) + KL (analytic).

    An upper bound on -log p(x), looser than :func:`importance_weighted_nll` with K > 1.
    """
    x = _as_batch(model, x, "negative_elbo")
    check_params("negative_elbo", {"n_samples": n_samples, "batch_size": batch_size}, _COUNTS)
    out = []
    with model._generating():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            mu, logvar = model.encode_stats(xb)                                # (b, k) each
            std = torch.exp(0.5 * logvar)
            chunk = max(1, batch_size // len(xb))
            rec = torch.zeros(len(xb), device=mu.device)
            for k0 in range(0, n_samples, chunk):
                kc = min(chunk, n_samples - k0)
                z = mu + std * torch.randn(kc, *mu.shape, generator=generator, device=mu.device)  # (kc, b, k)
                logits = model.decode_logits(z.flatten(0, 1))
                target = xb.expand(kc, *xb.shape).flatten(0, 1)
                rec -= model.log_likelihood(target, logits).view(kc, len(xb)).sum(0)
            out.append(rec / n_samples + kl_standard_normal(mu, logvar))
    return torch.cat(out)


@register_model("vae")
class VAE(VariationalAutoencoder):
    """Fully connected VAE: D -> hidden... -> (mu, log sigma^2) in R^k; z -> reversed(hidden)... -> D."""

    input_kinds = ("table", "image", "sequence")  # flattens any sample
    example_input_shape = (20,)
    _constraints = {**Autoencoder._constraints, "hidden": HIDDEN, **VARIATIONAL_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 32, hidden: tuple[int, ...] | list[int] = (512, 256),
                 activation: str = "gelu", likelihood: str = "gaussian", beta: float = 1.0,
                 kl_warmup_steps: int = 0):
        self._check_args(latent_dim=latent_dim, hidden=hidden, likelihood=likelihood, beta=beta,
                         kl_warmup_steps=kl_warmup_steps)
        hidden = [int(h) for h in hidden]
        super().__init__(input_shape=input_shape, latent_dim=latent_dim,
                         output_activation=_OUTPUT_ACTIVATION[likelihood])
        self._init_variational(likelihood, beta, kl_warmup_steps)
        d = self.n_elements
        # (B, *shape) -> (B, D) -> (B, hidden[-1]) -> (B, 2k): mu and log sigma^2
        self.encoder = nn.Sequential(nn.Flatten(), mlp([d, *hidden], activation, last_activation=True),
                                     nn.Linear(hidden[-1] if hidden else d, 2 * latent_dim))
        # (B, k) -> (B, D) -> (B, *shape)
        self.decoder = nn.Sequential(mlp([latent_dim, *hidden[::-1], d], activation),
                                     nn.Unflatten(1, self.input_shape))
        init_weights(self)
        self._init_decoder_input()


@register_model("vae-conv")
class ConvVAE(VariationalAutoencoder):
    """Convolutional VAE: the ``conv`` model's encoder and decoder, the encoder's last linear layer
    widened to 2k outputs (mu and log sigma^2). Arguments as for ``conv``; H and W must be divisible
    by 2 ** len(channels)."""

    input_kinds = ("image",)
    example_input_shape = (1, 16, 16)
    _constraints = {**ConvAutoencoder._constraints, **VARIATIONAL_CONSTRAINTS}

    def __init__(self, *, input_shape, latent_dim: int = 32, channels: tuple[int, ...] | list[int] = (16, 32),
                 depth: int = 2, activation: str = "gelu", downsample: str = "stride", upsample: str = "transpose",
                 batch_norm: bool = False, likelihood: str = "gaussian", beta: float = 1.0,
                 kl_warmup_steps: int = 0):
        self._check_args(likelihood=likelihood, beta=beta, kl_warmup_steps=kl_warmup_steps)
        try:
            conv = ConvAutoencoder(input_shape=input_shape, latent_dim=latent_dim, channels=channels, depth=depth,
                                   activation=activation, downsample=downsample, upsample=upsample,
                                   batch_norm=batch_norm)
        except ValueError as exc:
            raise type(exc)(str(exc).replace("model 'conv'", "model 'vae-conv'")) from None
        super().__init__(input_shape=input_shape, latent_dim=latent_dim,
                         output_activation=_OUTPUT_ACTIVATION[likelihood])
        self._init_variational(likelihood, beta, kl_warmup_steps)
        last = conv.encoder[-1]  # Linear(flat, k) after the convolutions and Flatten
        head = nn.Linear(last.in_features, 2 * latent_dim)
        init_weights(head)
        self.encoder = nn.Sequential(*list(conv.encoder)[:-1], head)  # (B, *shape) -> (B, 2k)
        self.decoder = conv.decoder                                     # (B, k) -> (B, *shape)
        self._init_decoder_input()
