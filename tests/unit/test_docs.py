"""The README documents every setting and every error name easel can send."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from easel.config import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def setting_names() -> list[str]:
    names = []
    for area, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += [f"EASEL_{area.upper()}__{f.upper()}" for f in field.annotation.model_fields]
        else:
            names.append(f"EASEL_{area.upper()}")
    return names


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in setting_names() if f"| `{name}` |" not in README]
    assert missing == []


def test_every_setting_has_a_description() -> None:
    for area, field in Settings.model_fields.items():
        assert field.description, area
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            for name, sub in field.annotation.model_fields.items():
                assert sub.description, f"{area}.{name}"


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
