"""Stability's sampler names mapped to diffusers schedulers.

Each call builds its own scheduler with `from_config` of the pipeline's
scheduler config, so the model's noise schedule (betas, prediction type,
timestep offset) carries over and no shared scheduler is mutated. The
mapping (k-diffusion name -> diffusers class):

    DDIM                  DDIMScheduler
    DDPM                  DDPMScheduler
    K_DPMPP_2M            DPMSolverMultistepScheduler (DPM-Solver++, order 2)
    K_DPMPP_2S_ANCESTRAL  DPMSolverSinglestepScheduler (DPM-Solver++, order 2)
    K_DPM_2               KDPM2DiscreteScheduler
    K_DPM_2_ANCESTRAL     KDPM2AncestralDiscreteScheduler
    K_EULER               EulerDiscreteScheduler
    K_EULER_ANCESTRAL     EulerAncestralDiscreteScheduler
    K_HEUN                HeunDiscreteScheduler
    K_LMS                 LMSDiscreteScheduler

K_DPMPP_2S_ANCESTRAL is an approximation: diffusers has no ancestral
(noise-injecting) DPM++ 2S, so the deterministic single-step DPM-Solver++ of
the same order stands in; results differ from k-diffusion's sampler but keep
its character (second order, single step). No sampler given means K_DPMPP_2M,
a fast, good default at 20-30 steps and the one Stability's own SDXL pages
recommend. Second-order samplers (K_HEUN, K_DPM_2, K_DPM_2_ANCESTRAL) evaluate
the model about twice per step; easel counts those evaluations as steps in
progress reports.

Flow-matching models (the sd3 family: FlowMatchEulerDiscreteScheduler) keep
their own scheduler whatever the sampler: Stability's samplers are
k-diffusion samplers for noise- and v-prediction models, v2beta has no
sampler field, and SD 3.5 is trained and tuned for its flow-matching Euler
sampler. A sampler name is still validated, then ignored (`scheduler_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from easel.errors import InvalidRequest

# Stability sampler -> (diffusers class name, config overrides)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "DDIM": ("DDIMScheduler", {}),
    "DDPM": ("DDPMScheduler", {}),
    "K_DPMPP_2M": (
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "K_DPMPP_2S_ANCESTRAL": (
        "DPMSolverSinglestepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
    ),
    "K_DPM_2": ("KDPM2DiscreteScheduler", {}),
    "K_DPM_2_ANCESTRAL": ("KDPM2AncestralDiscreteScheduler", {}),
    "K_EULER": ("EulerDiscreteScheduler", {}),
    "K_EULER_ANCESTRAL": ("EulerAncestralDiscreteScheduler", {}),
    "K_HEUN": ("HeunDiscreteScheduler", {}),
    "K_LMS": ("LMSDiscreteScheduler", {}),
}

SAMPLER_NAMES: tuple[str, ...] = tuple(SAMPLERS)
DEFAULT_SAMPLER = "K_DPMPP_2M"


def resolve_sampler(sampler: str | None) -> str:
    """The Stability sampler name used for `sampler` (None means the default)."""
    name = DEFAULT_SAMPLER if sampler is None else sampler
    if name not in SAMPLERS:
        raise InvalidRequest(
            f"sampler must be one of {', '.join(SAMPLER_NAMES)}; got {sampler!r}",
            param="sampler",
        )
    return name


def make_scheduler(sampler: str | None, base_config: Mapping[str, Any]) -> Any:
    """A fresh diffusers scheduler for `sampler`, built from a pipeline's scheduler config."""
    import diffusers

    class_name, overrides = SAMPLERS[resolve_sampler(sampler)]
    cls = getattr(diffusers, class_name)
    return cls.from_config(dict(base_config), **overrides)


def scheduler_for(sampler: str | None, base: Any) -> Any:
    """A fresh scheduler for `sampler` on a pipeline whose current scheduler is `base`."""
    name = resolve_sampler(sampler)
    if type(base).__name__.startswith("FlowMatch"):
        return type(base).from_config(base.config)
    return make_scheduler(name, base.config)
