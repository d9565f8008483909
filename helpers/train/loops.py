"""The training loops: one step of each kind of run, repeated. Each draws its batches from ``sample(step)`` and
reports ``on_step(step, losses)``, which may stop it; everything else (state, resume, export) is :mod:`.run`'s."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import DISTORTION_LOSSES, rd_loss
from ..models import GenerativeCodec

__all__ = ["fit", "fit_encoder", "fit_gan", "set_lr"]


def fit(
    model,
    sample,
    optimizer,
    *,
    start: int,
    steps: int,
    lmbda: float,
    lr_at,
    on_step=None,
    distortion: str = "l2",
    aux_optimizer=None,
) -> None:
    """The plain loop: draw a batch, compute ``lambda * 255^2 * MSE + bpp`` (or another distortion, see
    :func:`helpers.losses.rd_loss`), step. ``on_step`` may stop it. A model with an ``aux_loss`` (the CompressAI
    peer) also takes one step of ``aux_optimizer`` on it, as CompressAI's own training script does."""
    model.train()
    core = getattr(model, "module", model)  # under DistributedDataParallel
    # clip what this optimizer steps: the aux gradients of the previous step must not count in the norm
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for step in range(start, steps):
        set_lr([optimizer], lr_at(step))
        x = sample(step)
        out = model(x)
        parts = rd_loss(x, out.x_hat, out.likelihoods, lmbda, distortion)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if aux_optimizer is not None:
            aux = core.aux_loss()
            aux_optimizer.zero_grad(set_to_none=True)
            aux.backward()
            aux_optimizer.step()
            parts["aux_loss"] = aux
        if on_step is not None and on_step(step + 1, {k: float(v.detach()) for k, v in parts.items()}) is False:
            return


def set_lr(optimizers, lr: float) -> None:
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = lr


def fit_gan(
    codec: GenerativeCodec, discriminator, sample, optimizers, *, start: int, steps: int, lr_at, on_step=None
) -> None:
    """DCGAN's alternation (Radford et al. 2016) with the non-saturating loss: D learns to tell photo tiles from
    G(z), z ~ N(0, I); then G learns to make D call its tiles real. The encoder does not take part."""
    g, d = codec.generator, discriminator
    opt_g, opt_d = optimizers
    g.train()
    d.train()
    for step in range(start, steps):
        set_lr(optimizers, lr_at(step))
        x = sample(step)
        fake = g(torch.randn(x.shape[0], g.latent_dim, device=x.device))
        real_logit = d(x)
        d_loss = F.softplus(-real_logit).mean() + F.softplus(d(fake.detach())).mean()  # -log D(x) - log(1 - D(G(z)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-d(fake)).mean()  # -log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        parts = {
            "loss": d_loss.item() + g_loss.item(),
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item(),
            "d_real": torch.sigmoid(real_logit.detach()).mean().item(),
        }
        if on_step is not None and on_step(step + 1, parts) is False:
            return


def fit_encoder(
    codec: GenerativeCodec,
    sample,
    optimizer,
    *,
    start: int,
    steps: int,
    lr_at,
    distortion: str = "l2",
    kl_weight: float = 1e-3,
    joint: bool = False,
    latent_bits: int = 0,
    on_step=None,
) -> None:
    """Santurkar et al. 2018, second stage: the encoder learns to invert the generator, ``d(x, G(z)) + w KL``,
    z a reparameterised sample of q(z | x). The generator stays frozen in eval mode (as it decodes) unless
    ``joint``; the KL term keeps μ where the generator was trained, N(0, I). With ``latent_bits`` each batch
    goes through the real quantizer at a random depth of 1..latent_bits bits instead (quantization-aware)."""
    loss_fn = DISTORTION_LOSSES[distortion]
    codec.train()
    if not joint:
        codec.generator.eval().requires_grad_(False)
    for step in range(start, steps):
        set_lr([optimizer], lr_at(step))
        x = sample(step)
        out = codec(x, int(torch.randint(1, latent_bits + 1, ())) if latent_bits else None)
        dist = loss_fn(x, out.x_hat)
        kl = 0.5 * (out.mu**2 + out.logvar.exp() - 1 - out.logvar).mean()
        loss = dist + kl_weight * kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        optimizer.step()
        parts = {
            "loss": loss.item(),
            "distortion": dist.item(),
            "kl": kl.item(),
            "mse": F.mse_loss(out.x_hat.detach(), x).item(),
        }
        if on_step is not None and on_step(step + 1, parts) is False:
            return
