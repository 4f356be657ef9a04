"""The README documents every setting and every error name easel can send."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from easel.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _names(prefix: str, model: type[BaseModel]) -> list[str]:
    """Variable names of a settings table, nested tables (e.g. [engine.fast]) included."""
    names = []
    for name, field in model.model_fields.items():
        if _is_model(field.annotation):
            names += _names(f"{prefix}{name.upper()}__", field.annotation)  # type: ignore[arg-type]
        else:
            names.append(f"{prefix}{name.upper()}")
    return names


def setting_names() -> list[str]:
    return _names("EASEL_", Settings)


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in setting_names() if f"| `{name}` |" not in README]
    assert missing == []


def _undescribed(path: str, model: type[BaseModel]) -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(f"{path}.{name}")
        if _is_model(field.annotation):
            missing += _undescribed(f"{path}.{name}", field.annotation)  # type: ignore[arg-type]
    return missing


def test_every_setting_has_a_description() -> None:
    assert _undescribed("settings", Settings) == []


def test_nested_settings_are_listed_by_their_own_names() -> None:
    names = setting_names()
    assert "EASEL_ENGINE__FAST__COMPILE" in names
    assert "EASEL_ENGINE__FAST" not in names


def test_every_error_name_raised_in_the_code_is_documented() -> None:
    server = Path(__file__).parents[2] / "src" / "easel"
    source = "\n".join(
        p.read_text()
        for p in server.rglob("*.py")
        if p.relative_to(server).parts[0] not in ("cli", "client")
    )
    names = set(re.findall(r'name="([a-z_]+)"', source)) | set(
        re.findall(r'^    name = "([a-z_]+)"', source, re.MULTILINE)
    )
    missing = sorted(name for name in names if f"`{name}`" not in README)
    assert missing == []
