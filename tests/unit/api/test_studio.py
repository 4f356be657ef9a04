"""`/studio`: the packaged static files, with a strict CSP and no way out of the folder."""

from __future__ import annotations

import re
from importlib.resources import files

import httpx
import pytest


async def test_the_page_is_served_with_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/studio", "/studio/"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "set-cookie" not in response.headers


def test_the_page_has_no_inline_script_or_style() -> None:
    html = (files("easel") / "web" / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    assert " style=" not in html
    # event handler attributes are inline script too
    assert not re.search(r"<[^>]*\son\w+=", html)


async def test_every_module_the_page_loads_is_served(client: httpx.AsyncClient) -> None:
    web = files("easel") / "web"
    modules = [p.name for p in (web / "js").iterdir() if p.name.endswith(".js")]
    assert "main.js" in modules
    for name in modules:
        response = await client.get(f"/studio/js/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        for imported in re.findall(r'from "\./([\w.]+)"', response.text):
            assert imported in modules, f"{name} imports missing {imported}"


@pytest.mark.parametrize(
    "path",
    [
        "/studio/missing.js",
        "/studio/../api/app.py",
        "/studio/%2e%2e/api/app.py",
        "/studio/js/../../api/studio.py",
        "/studio/.hidden.js",
        "/studio/js",
    ],
)
async def test_anything_else_is_a_404_in_stabilitys_shape(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["name"] == "not_found"


async def test_the_studio_is_not_in_the_api_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert not any(path.startswith("/studio") for path in document["paths"])
    assert "/admin/organizations" in document["paths"]
    assert "/v1/user/keys" in document["paths"]
