"""Limits and descriptions of operation parameters, attached to the SDK's
method signatures with ``typing.Annotated`` so they are written once.

The SDK leaves range checks to the server (it decides); the CLI and the MCP
server read these to build their options and tool schemas.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """What a parameter means and which values the API takes."""

    description: str
    ge: float | None = None
    le: float | None = None
    max_length: int | None = None
    choices: tuple[str, ...] | None = None

    def limits(self) -> str:
        """The limits in words, e.g. ``0-1`` or ``one of png, jpeg, webp``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.ge is not None and self.le is not None:
            return f"{_num(self.ge)}-{_num(self.le)}"
        if self.max_length is not None:
            return f"at most {self.max_length} characters"
        return ""


@dataclass(frozen=True)
class ParamInfo:
    """One parameter of an operation method, as the CLI and MCP server see it."""

    name: str
    annotation: Any  # the type without Annotated and without None
    param: Param | None
    required: bool
    default: Any
    is_image: bool


def describe(method: Callable[..., Any]) -> list[ParamInfo]:
    """The keyword parameters of an operation method with their `Param`s."""
    hints = typing.get_type_hints(method, include_extras=True)
    infos = []
    for parameter in inspect.signature(method).parameters.values():
        if parameter.name in ("self", "idempotency_key", "on_progress"):
            continue
        hint = hints[parameter.name]
        meta = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Param)), None)
        bare = typing.get_args(hint)[0] if meta is not None else hint
        args = [a for a in typing.get_args(bare) if a is not type(None)]
        if typing.get_origin(bare) in (typing.Union, _UnionType) and len(args) == 1:
            bare = args[0]
        required = parameter.default is inspect.Parameter.empty
        infos.append(
            ParamInfo(
                name=parameter.name,
                annotation=bare,
                param=meta,
                required=required,
                default=None if required else parameter.default,
                is_image=getattr(bare, "__name__", "") == "ImageInput" or _is_image(bare),
            )
        )
    return infos


def _is_image(annotation: Any) -> bool:
    # ImageInput is a union of str, PathLike, bytes and IO: bytes marks it
    args = typing.get_args(annotation)
    return bytes in args or annotation is bytes


_UnionType = type(int | None)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
