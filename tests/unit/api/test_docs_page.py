"""`/docs` works offline: Swagger UI's page and assets come from easel itself."""

from __future__ import annotations

import re

import httpx


async def test_docs_page_loads_only_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.text and "/openapi.json" in response.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", response.text)
    assert urls and all(url.startswith("/docs/assets/") for url in urls), urls
    assert "http://" not in response.text and "https://" not in response.text  # no CDN
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert "/v1/user/balance" in response.json()["paths"]
