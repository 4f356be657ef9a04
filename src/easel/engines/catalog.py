"""The default engine list: every published Stability v1 engine id.

Each default runs on the sandbox backend (tiny local models, no weights) and
says so in its description; an operator points an engine at real weights by
overriding `backend` and `model` in config. Prices are credits for one image
at the family's base size and 30 steps (see `billing.prices`).
"""

from __future__ import annotations

from easel.engines.base import EngineSpec

_SANDBOX_NOTE = (
    " Sandbox: runs a tiny local model of the same architecture; "
    "images are deterministic noise, not art."
)
_LANCZOS_NOTE = " Sandbox: upscales with a Lanczos resize, no neural network."


def _generate(engine_id: str, name: str, family: str, price: float, what: str) -> EngineSpec:
    return EngineSpec.model_validate(
        {
            "id": engine_id,
            "name": name,
            "description": what + _SANDBOX_NOTE,
            "family": family,
            "kind": "generate",
            "backend": "sandbox",
            "price": price,
        }
    )


def default_engines() -> list[EngineSpec]:
    """A fresh list of the default engine specs."""
    return [
        _generate(
            "stable-diffusion-xl-1024-v1-0",
            "Stable Diffusion XL v1.0",
            "sdxl",
            0.9,
            "Stability-AI Stable Diffusion XL v1.0.",
        ),
        _generate(
            "stable-diffusion-xl-1024-v0-9",
            "Stable Diffusion XL v0.9",
            "sdxl",
            0.9,
            "Stability-AI Stable Diffusion XL v0.9.",
        ),
        _generate(
            "stable-diffusion-v1-6",
            "Stable Diffusion v1.6",
            "sd16",
            0.9,
            "Stability-AI Stable Diffusion v1.6.",
        ),
        _generate(
            "stable-diffusion-xl-beta-v2-2-2",
            "Stable Diffusion XL Beta v2.2.2",
            "sdxl-beta",
            0.9,
            "Stability-AI Stable Diffusion XL Beta v2.2.2.",
        ),
        _generate(
            "stable-diffusion-768-v2-1",
            "Stable Diffusion v2.1-768",
            "sd2-768",
            0.9,
            "Stability-AI Stable Diffusion 768 v2.1.",
        ),
        _generate(
            "stable-diffusion-768-v2-0",
            "Stable Diffusion v2.0-768",
            "sd2-768",
            0.9,
            "Stability-AI Stable Diffusion 768 v2.0.",
        ),
        _generate(
            "stable-diffusion-512-v2-1",
            "Stable Diffusion v2.1",
            "sd1",
            0.9,
            "Stability-AI Stable Diffusion v2.1.",
        ),
        _generate(
            "stable-diffusion-512-v2-0",
            "Stable Diffusion v2.0",
            "sd1",
            0.9,
            "Stability-AI Stable Diffusion v2.0.",
        ),
        _generate(
            "stable-diffusion-v1-5",
            "Stable Diffusion v1.5",
            "sd1",
            0.9,
            "Stability-AI Stable Diffusion v1.5.",
        ),
        _generate(
            "stable-diffusion-v1",
            "Stable Diffusion v1.4",
            "sd1",
            0.9,
            "Stability-AI Stable Diffusion v1.4.",
        ),
        _generate(
            "stable-diffusion-depth-v2-0",
            "Stable Diffusion v2.0-depth",
            "sd1",
            0.9,
            "Stability-AI Stable Diffusion Depth v2.0 (served as image-to-image).",
        ),
        EngineSpec.model_validate(
            {
                "id": "stable-inpainting-v1-0",
                "name": "Stable Inpainting v1.0",
                "description": "Stability-AI Stable Inpainting v1.0." + _SANDBOX_NOTE,
                "family": "sd1",
                "kind": "inpaint",
                "price": 0.9,
            }
        ),
        EngineSpec.model_validate(
            {
                "id": "stable-inpainting-512-v2-0",
                "name": "Stable Inpainting v2.0",
                "description": "Stability-AI Stable Inpainting v2.0." + _SANDBOX_NOTE,
                "family": "sd1",
                "kind": "inpaint",
                "price": 0.9,
            }
        ),
        EngineSpec.model_validate(
            {
                "id": "esrgan-v1-x2plus",
                "name": "Real-ESRGAN x2",
                "description": "Real-ESRGAN_x2plus upscaler model." + _LANCZOS_NOTE,
                "family": "esrgan",
                "kind": "upscale",
                "backend": "lanczos",
                "price": 0.2,
            }
        ),
        EngineSpec.model_validate(
            {
                "id": "stable-diffusion-x4-latent-upscaler",
                "name": "Stable Diffusion x4 Latent Upscaler",
                "description": "Stability-AI Stable Diffusion x4 Latent Upscaler." + _SANDBOX_NOTE,
                "family": "latent-upscaler",
                "kind": "upscale",
                "price": 12.0,
            }
        ),
    ]
