"""Parsing client JSON strictly: bounded nesting, finite numbers, 400 for everything else.

`json.loads` recurses once per nesting level, so `[[[[…]]]]` a few thousand
levels deep raises `RecursionError` from inside the parser (a 500 and a long
traceback). The depth is therefore measured before parsing, on the text with
its string literals blanked out, and refused above `MAX_DEPTH`. Stability's
bodies nest three levels at most (`{"text_prompts": [{…}]}`); `extras` gets
room to spare.

JSON has no NaN or Infinity, but Python's parser accepts the bare words, and
a number like `1e999` becomes `inf`; both are refused here, so no non-finite
value reaches an engine (an all-black image) or a JSON database column (which
PostgreSQL refuses).
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from easel.api.errors import describe_errors
from easel.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)

MAX_DEPTH = 64

# A JSON string literal, escapes included; brackets inside one do not nest.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def parse_json(raw: bytes) -> Any:
    """Parse a request body; an empty or invalid one is a 400 naming `body`."""
    if not raw.strip():
        raise InvalidRequest("body: is required (a JSON object)")
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from exc
    return parse_json_text(text, "body")


def validate_object(model: type[Model], data: Any) -> Model:
    """Validate parsed JSON against `model`, turning pydantic errors into one 400."""
    if not isinstance(data, dict):
        raise InvalidRequest("body: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(describe_errors(exc.errors(include_url=False))) from exc


async def read_body(request: Request, model: type[Model]) -> Model:
    """A route's JSON body as `model` (document it with `openapi.json_body(model)`)."""
    return validate_object(model, parse_json(await request.body()))


def parse_json_text(text: str, field: str) -> Any:
    """Parse `text` as JSON, refusing deep nesting and non-finite numbers with a 400."""
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise InvalidRequest(
            f"{field}: JSON nested {depth} levels deep; the maximum is {MAX_DEPTH}"
        )
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFinite as exc:
        raise InvalidRequest(f"{field}: {exc} is not a valid JSON number") from exc
    # ValueError covers JSONDecodeError and integers too long to convert.
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest(f"{field}: not valid JSON ({exc})") from exc


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text`, ignoring string contents."""
    brackets = _BRACKETS.sub("", _STRING.sub('""', text))
    return max(accumulate((_DEPTH_STEP[c] for c in brackets), initial=0))


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(name)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NonFinite(literal)
    return value
