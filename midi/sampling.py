"""DDIM sampling with classifier-free guidance on the instruction, and known-lane inpainting."""

from __future__ import annotations

import torch

from .model import LaneDenoiser, alpha_sigma


@torch.inference_mode()
def sample_lanes(
    model: LaneDenoiser,
    context: torch.Tensor,
    text: torch.Tensor,
    known: torch.Tensor | None = None,
    known_mask: torch.Tensor | None = None,
    steps: int = 8,
    guidance: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Generate lanes (B, Ct, T) in [-1, 1].

    Args:
        model: the denoiser.
        context: (B, Cc, T) context features of the other tracks.
        text: (B, 384) instruction embeddings.
        known: (B, Ct, T) lanes already fixed (e.g. the overlap with a neighbouring window).
        known_mask: (B, 1, T) 1 where ``known`` holds; those steps are returned unchanged.
        steps: DDIM steps (deterministic sampler, from t=1 to 0).
        guidance: text guidance scale; 1 turns classifier-free guidance off (one pass a step).
        generator: seeded noise source for reproducible output.
    """
    b, _, n = context.shape
    ct = model.config.target_channels
    if known is None:
        known = torch.zeros(b, ct, n)
        known_mask = torch.zeros(b, 1, n)
    x = torch.randn(b, ct, n, generator=generator)
    ts = torch.linspace(1.0, 0.0, steps + 1)
    use_cfg = guidance != 1.0
    if use_cfg:
        # One forward pass for both branches: conditional rows then unconditional rows.
        ctx2, txt2 = torch.cat([context, context]), torch.cat([text, text])
        kn2, km2 = torch.cat([known, known]), torch.cat([known_mask, known_mask])
        flags = torch.cat([torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)])
    x0 = x
    for i in range(steps):
        t = ts[i].expand(b)
        if use_cfg:
            v_c, v_u = model(torch.cat([x, x]), torch.cat([t, t]), txt2, kn2, km2, ctx2, flags).chunk(2)
            v = v_u + guidance * (v_c - v_u)
        else:
            v = model(x, t, text, known, known_mask, context, torch.ones(b, dtype=torch.bool))
        a, s = alpha_sigma(t)
        x0 = (a * x - s * v).clamp(-1, 1)
        eps = s * x + a * v
        a2, s2 = alpha_sigma(ts[i + 1].expand(b))
        x = a2 * x0 + s2 * eps
    return torch.where(known_mask > 0, known, x0)
