"""v1 body parsing and validation, called directly (no app, no database).

`tests/unit/api/test_generation.py` keeps one or two of these cases per route
through HTTP to prove the routes use these rules and charge nothing.
"""

from __future__ import annotations

import pytest

from easel.api.v1.params import (
    TextToImageRequestBody,
    UpscaleRequestBody,
    parse_json,
    validate_body,
)
from easel.errors import InvalidRequest


def t2i(**overrides: object) -> dict[str, object]:
    return {"text_prompts": [{"text": "A lighthouse on a cliff"}], "steps": 10, **overrides}


def bad_request(call: object, *args: object) -> str:
    """The message of the 400 `bad_request` that `call(*args)` raises."""
    assert callable(call)
    with pytest.raises(InvalidRequest) as raised:
        call(*args)
    assert (raised.value.status, raised.value.name) == (400, "bad_request")
    return raised.value.message


def test_a_valid_body_keeps_its_values() -> None:
    body = validate_body(TextToImageRequestBody, t2i(cfg_scale=35, seed=4_294_967_295))
    assert (body.cfg_scale, body.seed, body.steps, body.width) == (35, 4_294_967_295, 10, 512)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"cfg_scale": 36}, "cfg_scale"),
        ({"steps": 9}, "steps"),
        ({"steps": 151}, "steps"),
        ({"samples": 11}, "samples"),
        ({"seed": 4_294_967_296}, "seed"),
        ({"seed": -1}, "seed"),
        ({"sampler": "K_MAGIC"}, "sampler"),
        ({"style_preset": "watercolour"}, "style_preset"),
        ({"clip_guidance_preset": "FASTEST"}, "clip_guidance_preset"),
        ({"steps": "many"}, "steps"),
        ({"text_prompts": []}, "text_prompts"),
        ({"text_prompts": [{"weight": 1}]}, "text_prompts[0][text]"),
        ({"text_prompts": [{"text": "x" * 2001}]}, "text_prompts[0][text]"),
        ({"text_prompts": "a string"}, "text_prompts"),
    ],
)
def test_bad_parameters_are_bad_request(body: dict[str, object], fragment: str) -> None:
    assert fragment in bad_request(validate_body, TextToImageRequestBody, t2i(**body))


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]"])
def test_malformed_json_is_bad_request(content: bytes) -> None:
    bad_request(lambda: validate_body(TextToImageRequestBody, parse_json(content)))


def test_upscale_width_below_512_is_bad_request() -> None:
    assert "width" in bad_request(validate_body, UpscaleRequestBody, {"width": "256"})
