"""The default engine list: every published Stability v1 engine id, and v2beta's models.

Each default runs on the sandbox backend (tiny local models, no weights) and
says so in its description; an operator points an engine at real weights by
overriding `backend` and `model` in config. v1 prices are credits for one
image at the family's base size and 30 steps; v2beta prices are Stability's
credits per call (reference §2), flat (see `billing.prices`).

v2beta engines (`api = "v2beta"`, never listed by /v1/engines/list) are named
after the v2beta `model` value or service they serve. Real weights for each:

    engine id                     family  backend    model (stabilityai/ on the hub)
    sd3.5-large, sd3-large, sd3,  sd3     diffusers  stable-diffusion-3.5-large
      stable-image-ultra
    sd3.5-large-turbo,            sd3     diffusers  stable-diffusion-3.5-large-turbo
      sd3-large-turbo, sd3-turbo
    sd3.5-medium, sd3.5-flash     sd3     diffusers  stable-diffusion-3.5-medium
    sd3-medium                    sd3     diffusers  stable-diffusion-3-medium-diffusers
    stable-image-core             sdxl    diffusers  stable-diffusion-xl-base-1.0
    upscale-fast                  esrgan  esrgan     /models/RealESRGAN_x4plus.pth (a file)
    upscale-conservative,         sdxl    diffusers  stable-diffusion-xl-base-1.0
      upscale-creative            (kind "upscale": resize, then tiled img2img)
    stable-video-diffusion        svd     diffusers  stable-video-diffusion-img2vid-xt
    stable-fast-3d,               mesh    depth-mesh depth-anything/Depth-Anything-V2-Small-hf
      stable-point-aware-3d       (a depth relief, not Stability's SF3D / SPAR3D models)
    stable-image-erase, -inpaint, sd1     diffusers  stable-diffusion-2-inpainting
      -outpaint, -search-and-     (kind "edit"; or family sdxl with
      replace, -search-and-        diffusers/stable-diffusion-xl-1.0-inpainting-0.1);
      recolor                     the two search engines also need
                                  mask_model = "CIDAS/clipseg-rd64-refined"
    stable-image-remove-          u2net   u2net      /models/u2net.pth (a file; U-2-Net's
      background                                     own weights, as rembg uses them)
    stable-image-replace-         sd1     diffusers  stable-diffusion-2-inpainting (kind
      background-and-relight                         "relight"; or an SDXL inpainting
                                                     checkpoint on family sdxl), with
                                                     mask_model = "/models/u2net.pth"
                                                     for the cut-out

Control engines (kind "control", family sdxl, base model
stabilityai/stable-diffusion-xl-base-1.0) add a ControlNet (`control_model`)
and an IP-Adapter (`adapter_model`; the h94/IP-Adapter weights file, its
image encoder read from image_encoder/ beside it):

    engine id                       control_model (ControlNet)
    stable-image-control-sketch     xinsir/controlnet-scribble-sdxl-1.0
    stable-image-control-structure  diffusers/controlnet-canny-sdxl-1.0
    stable-image-style-transfer     diffusers/controlnet-canny-sdxl-1.0

    engine id                       adapter_model (IP-Adapter)
    stable-image-control-style      h94/IP-Adapter/sdxl_models/ip-adapter_sdxl.safetensors
    stable-image-style-transfer     h94/IP-Adapter/sdxl_models/ip-adapter_sdxl.safetensors

Stability re-routes the SD 3.0 ids to their SD 3.5 equivalents at the same
price (reference §3.3), hence the shared weights; SD 3.5 Flash has no public
diffusers weights, so it defaults to Medium. The SD3 weights are gated on the
Hugging Face hub: accept the licence and log in (or copy them to a local
directory) before pointing an engine at them.
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


# Steps for the v2beta sandbox engines: the tiny models gain nothing from more, and
# a sandbox is for exercising the API. Real weights want their own (`steps` in the
# engine's config): 28 for SD 3.5 Large/Medium, 4 for Turbo and Flash, 30 for SDXL.
SANDBOX_V2BETA_STEPS = 4
# Stability's default guidance (reference §3.3): 4 for Large/Medium, 1 for Turbo/Flash.
_FEW_STEP_MODELS = {"sd3.5-large-turbo", "sd3.5-flash", "sd3-large-turbo", "sd3-turbo"}


def _v2beta(
    engine_id: str, name: str, family: str, price: float, what: str, **fields: object
) -> EngineSpec:
    guidance = {}
    if family == "sd3":
        guidance["cfg_scale"] = 1.0 if engine_id in _FEW_STEP_MODELS else 4.0
    return EngineSpec.model_validate(
        {
            "id": engine_id,
            "name": name,
            "description": what + _SANDBOX_NOTE,
            "family": family,
            "kind": "generate",
            "backend": "sandbox",
            "price": price,
            "api": "v2beta",
            "steps": SANDBOX_V2BETA_STEPS,
            **guidance,
            **fields,
        }
    )


def v2beta_engines() -> list[EngineSpec]:
    """The default v2beta engines: generate (ultra, core, sd3 models) and upscale."""
    sd3 = "Stability-AI Stable Diffusion 3"
    return [
        _v2beta(
            "stable-image-ultra",
            "Stable Image Ultra",
            "sd3",
            8.0,
            "Stable Image Ultra (v2beta generate/ultra), on SD 3.5 Large.",
        ),
        _v2beta(
            "stable-image-core",
            "Stable Image Core",
            "sdxl",
            3.0,
            "Stable Image Core (v2beta generate/core), on SDXL.",
        ),
        _v2beta("sd3.5-large", "Stable Diffusion 3.5 Large", "sd3", 6.5, f"{sd3}.5 Large."),
        _v2beta(
            "sd3.5-large-turbo",
            "Stable Diffusion 3.5 Large Turbo",
            "sd3",
            4.0,
            f"{sd3}.5 Large Turbo.",
        ),
        _v2beta("sd3.5-medium", "Stable Diffusion 3.5 Medium", "sd3", 3.5, f"{sd3}.5 Medium."),
        _v2beta("sd3.5-flash", "Stable Diffusion 3.5 Flash", "sd3", 2.5, f"{sd3}.5 Flash."),
        _v2beta(
            "sd3-large",
            "Stable Diffusion 3 Large",
            "sd3",
            6.5,
            f"{sd3} Large (served as SD 3.5 Large, as Stability does).",
        ),
        _v2beta(
            "sd3-large-turbo",
            "Stable Diffusion 3 Large Turbo",
            "sd3",
            4.0,
            f"{sd3} Large Turbo (served as SD 3.5 Large Turbo, as Stability does).",
        ),
        _v2beta("sd3-medium", "Stable Diffusion 3 Medium", "sd3", 3.5, f"{sd3} Medium."),
        _v2beta(
            "sd3",
            "Stable Diffusion 3",
            "sd3",
            6.5,
            f"{sd3}, the spring 2024 id (served as SD 3.5 Large).",
        ),
        _v2beta(
            "sd3-turbo",
            "Stable Diffusion 3 Turbo",
            "sd3",
            4.0,
            f"{sd3} Turbo, the spring 2024 id (served as SD 3.5 Large Turbo).",
        ),
        _v2beta(
            "upscale-fast",
            "Fast Upscaler",
            "esrgan",
            2.0,
            "Fast 4x upscaler (v2beta upscale/fast), Real-ESRGAN x4.",
            kind="upscale",
            model="esrgan-x4",
        ),
        _v2beta(
            "upscale-conservative",
            "Conservative Upscaler",
            "sdxl",
            40.0,
            "Conservative upscaler (v2beta upscale/conservative): resize, then tiled "
            "SDXL image-to-image at low strength.",
            kind="upscale",
        ),
        _v2beta(
            "upscale-creative",
            "Creative Upscaler",
            "sdxl",
            60.0,
            "Creative upscaler (v2beta upscale/creative): resize, then tiled SDXL "
            "image-to-image at the requested creativity.",
            kind="upscale",
        ),
    ]


# SVD-XT wants 25; the tiny SVD's video costs a second a step on a shared CPU.
SANDBOX_VIDEO_STEPS = 2
_MESH_NOTE = (
    " easel builds a textured relief from a monocular depth estimate (the visible "
    "surface only, open at the back), not Stability's {model} reconstruction."
    " Sandbox: a tiny Depth Anything of random weights; the relief is deterministic noise."
)


def v2beta_media_engines() -> list[EngineSpec]:
    """The default v2beta image-to-video and image-to-3D engines."""
    video = "Stable Video Diffusion (v2beta image-to-video)."
    return [
        _v2beta(
            "stable-video-diffusion",
            "Stable Video Diffusion",
            "svd",
            20.0,
            video,
            kind="video",
            type="VIDEO",
            steps=SANDBOX_VIDEO_STEPS,
            description=video
            + " Sandbox: a tiny SVD (4 frames, rendered at 1/8 of the size and resized); "
            "frames are deterministic noise, not art.",
        ),
        _v2beta(
            "stable-fast-3d",
            "Stable Fast 3D",
            "mesh",
            10.0,
            "",
            kind="3d",
            description="Stable Fast 3D (v2beta 3d/stable-fast-3d)."
            + _MESH_NOTE.format(model="SF3D"),
        ),
        _v2beta(
            "stable-point-aware-3d",
            "Stable Point Aware 3D",
            "mesh",
            4.0,
            "",
            kind="3d",
            description="Stable Point Aware 3D (v2beta 3d/stable-point-aware-3d)."
            + _MESH_NOTE.format(model="SPAR3D"),
        ),
    ]


def v2beta_edit_engines() -> list[EngineSpec]:
    """The default engines of v2beta's edit services, one per service (each has its price)."""
    inpainting = "on an SD inpainting pipeline"
    search = "CLIPSeg finds it, then an SD inpainting pipeline"
    edit = {"kind": "edit"}
    return [
        _v2beta(
            "stable-image-erase",
            "Erase",
            "sd1",
            5.0,
            f"Erase (v2beta edit/erase): fills the mask from its surroundings, {inpainting}.",
            **edit,
        ),
        _v2beta(
            "stable-image-inpaint",
            "Inpaint",
            "sd1",
            5.0,
            f"Inpaint (v2beta edit/inpaint): repaints the mask, {inpainting}.",
            **edit,
        ),
        _v2beta(
            "stable-image-outpaint",
            "Outpaint",
            "sd1",
            4.0,
            f"Outpaint (v2beta edit/outpaint): extends the canvas, {inpainting}.",
            **edit,
        ),
        _v2beta(
            "stable-image-search-and-replace",
            "Search and Replace",
            "sd1",
            5.0,
            f"Search and replace (v2beta edit/search-and-replace): {search} repaints it.",
            **edit,
        ),
        _v2beta(
            "stable-image-search-and-recolor",
            "Search and Recolor",
            "sd1",
            5.0,
            f"Search and recolor (v2beta edit/search-and-recolor): {search} recolours it.",
            **edit,
        ),
        _v2beta(
            "stable-image-replace-background-and-relight",
            "Replace Background and Relight",
            "sd1",
            8.0,
            "Replace background and relight (v2beta edit/replace-background-and-relight): "
            "U²-Net cuts the subject out, an SD inpainting pipeline paints the new background "
            "from the prompt (or the background reference is used), then the light is "
            "approximated with classical image operations (a brightness gradient from "
            "light_source_direction or the light reference's luminance), not a learned "
            "relighting model such as IC-Light: no new shadows or highlights.",
            kind="relight",
        ),
        _v2beta(
            "stable-image-remove-background",
            "Remove Background",
            "u2net",
            5.0,
            "Remove background (v2beta edit/remove-background): U²-Net salient-object "
            "segmentation, the subject on a transparent background.",
            kind="segment",
        ),
    ]


def control_engines() -> list[EngineSpec]:
    """The default v2beta control engines: sketch, structure, style and style transfer."""
    control = {"kind": "control", "control_model": "sdxl-controlnet"}
    adapter = {"kind": "control", "adapter_model": "sdxl-ip-adapter"}
    return [
        _v2beta(
            "stable-image-control-sketch",
            "Stable Image Control: Sketch",
            "sdxl",
            5.0,
            "Control: Sketch (v2beta control/sketch): an SDXL ControlNet (scribble) conditioned "
            "on the sketch's strokes.",
            **control,
        ),
        _v2beta(
            "stable-image-control-structure",
            "Stable Image Control: Structure",
            "sdxl",
            5.0,
            "Control: Structure (v2beta control/structure): an SDXL ControlNet (canny) "
            "conditioned on the input's edges.",
            **control,
        ),
        _v2beta(
            "stable-image-control-style",
            "Stable Image Control: Style",
            "sdxl",
            5.0,
            "Control: Style (v2beta control/style): SDXL with an IP-Adapter on the style image.",
            **adapter,
        ),
        _v2beta(
            "stable-image-style-transfer",
            "Stable Image Style Transfer",
            "sdxl",
            8.0,
            "Style Transfer (v2beta control/style-transfer): SDXL image-to-image from the "
            "content image with an IP-Adapter on the style image and a ControlNet (canny) on "
            "the content's edges.",
            **adapter,
            control_model="sdxl-controlnet",
        ),
    ]


def default_engines() -> list[EngineSpec]:
    """A fresh list of the default engine specs (v1, then v2beta)."""
    return (
        v1_engines()
        + v2beta_engines()
        + v2beta_edit_engines()
        + control_engines()
        + v2beta_media_engines()
    )


def v1_engines() -> list[EngineSpec]:
    """The default v1 engines: every published Stability v1 engine id."""
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
