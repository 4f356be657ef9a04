"""Stability's `style_preset` values as prompt templates.

Each preset wraps every positive prompt in a template (``{prompt}`` marks
where the user's text goes) and adds a negative prompt with weight -1, which
the engines blend with any user negative prompts by |weight|. The templates
follow the SDXL style list Stability published with its own tools, so a
preset steers real weights the way users expect; on the sandbox's tiny models
they still change the conditioning and hence the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from easel.engines.base import WeightedPrompt
from easel.errors import InvalidRequest


@dataclass(frozen=True)
class StylePreset:
    template: str  # contains "{prompt}"
    negative: str


STYLE_PRESETS: dict[str, StylePreset] = {
    "enhance": StylePreset(
        "breathtaking {prompt} . award-winning, professional, highly detailed",
        "ugly, deformed, noisy, blurry, distorted, grainy",
    ),
    "anime": StylePreset(
        "anime artwork {prompt} . anime style, key visual, vibrant, studio anime, highly detailed",
        "photo, deformed, black and white, realism, disfigured, low contrast",
    ),
    "photographic": StylePreset(
        "cinematic photo {prompt} . 35mm photograph, film, bokeh, professional, 4k, "
        "highly detailed",
        "drawing, painting, crayon, sketch, graphite, impressionist, noisy, blurry, soft, "
        "deformed, ugly",
    ),
    "digital-art": StylePreset(
        "concept art {prompt} . digital artwork, illustrative, painterly, matte painting, "
        "highly detailed",
        "photo, photorealistic, realism, ugly",
    ),
    "comic-book": StylePreset(
        "comic {prompt} . graphic illustration, comic art, graphic novel art, vibrant, "
        "highly detailed",
        "photograph, deformed, glitch, noisy, realistic, stock photo",
    ),
    "fantasy-art": StylePreset(
        "ethereal fantasy concept art of {prompt} . magnificent, celestial, ethereal, "
        "painterly, epic, majestic, magical, fantasy art, cover art, dreamy",
        "photographic, realistic, realism, 35mm film, dslr, cropped, frame, text, deformed, "
        "glitch, noise, noisy, off-center, bad anatomy, ugly, disfigured, sloppy, duplicate, "
        "mutated, black and white",
    ),
    "line-art": StylePreset(
        "line art drawing {prompt} . professional, sleek, modern, minimalist, graphic, "
        "line art, vector graphics",
        "anime, photorealistic, 35mm film, deformed, glitch, blurry, noisy, off-center, "
        "bad anatomy, ugly, disfigured, mutated, realism, realistic, impressionism, "
        "expressionism, oil, acrylic",
    ),
    "analog-film": StylePreset(
        "analog film photo {prompt} . faded film, desaturated, 35mm photo, grainy, vignette, "
        "vintage, Kodachrome, Lomography, stained, highly detailed, found footage",
        "painting, drawing, illustration, glitch, deformed, mutated, cross-eyed, ugly, disfigured",
    ),
    "neon-punk": StylePreset(
        "neonpunk style {prompt} . cyberpunk, vaporwave, neon, vibes, vibrant, stunningly "
        "beautiful, crisp, detailed, sleek, ultramodern, magenta highlights, dark purple "
        "shadows, high contrast, cinematic, ultra detailed, intricate, professional",
        "painting, drawing, illustration, glitch, deformed, mutated, cross-eyed, ugly, disfigured",
    ),
    "isometric": StylePreset(
        "isometric style {prompt} . vibrant, beautiful, crisp, detailed, ultra detailed, intricate",
        "deformed, mutated, ugly, disfigured, blur, blurry, noise, noisy, realistic, photographic",
    ),
    "low-poly": StylePreset(
        "low-poly style {prompt} . low-poly game art, polygon mesh, jagged, blocky, "
        "wireframe edges, centered composition",
        "noisy, sloppy, messy, grainy, highly detailed, ultra textured, photo",
    ),
    "origami": StylePreset(
        "origami style {prompt} . paper art, pleated paper, folded, origami art, pleats, "
        "cut and fold, centered composition",
        "noisy, sloppy, messy, grainy, highly detailed, ultra textured, photo",
    ),
    "modeling-compound": StylePreset(
        "play-doh style {prompt} . sculpture, clay art, centered composition, claymation",
        "sloppy, messy, grainy, highly detailed, ultra textured, photo",
    ),
    "cinematic": StylePreset(
        "cinematic film still {prompt} . shallow depth of field, vignette, highly detailed, "
        "high budget, bokeh, cinemascope, moody, epic, gorgeous, film grain, grainy",
        "anime, cartoon, graphic, text, painting, crayon, graphite, abstract, glitch, "
        "deformed, mutated, ugly, disfigured",
    ),
    "3d-model": StylePreset(
        "professional 3d model {prompt} . octane render, highly detailed, volumetric, "
        "dramatic lighting",
        "ugly, deformed, noisy, low poly, blurry, painting",
    ),
    "pixel-art": StylePreset(
        "pixel-art {prompt} . low-res, blocky, pixel art style, 8-bit graphics",
        "sloppy, messy, blurry, noisy, highly detailed, ultra textured, photo, realistic",
    ),
    "tile-texture": StylePreset(
        "texture {prompt} top down close-up, seamless tileable pattern",
        "ugly, deformed, noisy, blurry, seams, borders",
    ),
}

STYLE_PRESET_NAMES: tuple[str, ...] = tuple(STYLE_PRESETS)


def apply_style_preset(
    prompts: Sequence[WeightedPrompt], preset: str | None
) -> list[WeightedPrompt]:
    """Return `prompts` with `preset` applied (unchanged when `preset` is None).

    Positive prompts (weight > 0) are put into the preset's template; negative
    ones are kept as they are; the preset's negative prompt is appended with
    weight -1.
    """
    if preset is None:
        return list(prompts)
    style = STYLE_PRESETS.get(preset)
    if style is None:
        raise InvalidRequest(
            f"style_preset must be one of {', '.join(STYLE_PRESET_NAMES)}; got {preset!r}",
            param="style_preset",
        )
    styled = [
        # str.replace, not str.format: user prompts may contain braces.
        WeightedPrompt(style.template.replace("{prompt}", p.text), p.weight) if p.weight > 0 else p
        for p in prompts
    ]
    styled.append(WeightedPrompt(style.negative, -1.0))
    return styled
