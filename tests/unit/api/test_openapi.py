"""easel's OpenAPI document: valid, a superset of Stability's v1 spec, and Stability's errors.

The document is built once for the module from an app that never starts, so no
database is touched; one runtime check at the end uses the usual app fixture.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field
from starlette.requests import Request

from easel.api.app import create_app
from easel.api.errors import error_response
from easel.api.openapi import Error, finish, json_body, multipart_body
from easel.api.v1.artifacts import render_artifacts
from easel.api.v1.schemas import GenerationResponseBody
from easel.generation.service import OutputFile
from easel.storage.local import LocalArtifactStore
from tests.factories import TestAccount, make_settings

SD = "stable-diffusion-v1-6"
REFERENCE = Path(__file__).parents[2] / "data" / "stability-api-v1.openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
Operation = tuple[str, str]  # (METHOD, path)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("openapi")
    app = create_app(make_settings(data, f"sqlite:///{data / 'never-opened.db'}"))
    return app.openapi()


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REFERENCE.read_text())
    return loaded


def deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def property_names(doc: dict[str, Any], schema: Any) -> set[str]:
    """Every property a body schema can carry, through refs and allOf/oneOf/anyOf."""
    schema = deref(doc, schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            names |= property_names(doc, sub)
    return names


def operations(doc: dict[str, Any]) -> dict[Operation, dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def parameters(doc: dict[str, Any], op: Operation) -> set[tuple[str, str]]:
    method, path = op
    item = doc["paths"][path]
    declared = item.get("parameters", []) + item[method.lower()].get("parameters", [])
    # header names are case-insensitive on the wire
    return {
        (p["in"], p["name"].lower() if p["in"] == "header" else p["name"])
        for p in (deref(doc, p) for p in declared)
    }


def security_schemes(doc: dict[str, Any], op: dict[str, Any]) -> set[tuple[str, str, str]]:
    """What each security requirement asks for: (type, in, name)."""
    schemes = doc.get("components", {}).get("securitySchemes", {})
    return {
        (schemes[n]["type"], schemes[n].get("in", ""), schemes[n].get("name", ""))
        for requirement in op.get("security", doc.get("security", []))
        for n in requirement
    }


def missing_from(ours: dict[str, Any], ref: dict[str, Any], op: Operation) -> list[str]:
    """What the reference declares for `op` that easel's document lacks."""
    mine = operations(ours).get(op)
    if mine is None:
        return ["the operation itself"]
    theirs = operations(ref)[op]
    missing = [
        f"{where} parameter {name}"
        for where, name in sorted(parameters(ref, op) - parameters(ours, op))
        if where in ("path", "header", "query")
    ]
    our_media = deref(ours, mine.get("requestBody", {})).get("content", {})
    for media, content in deref(ref, theirs.get("requestBody", {})).get("content", {}).items():
        if media not in our_media:
            missing.append(f"request body {media}")
            continue
        wanted = property_names(ref, content.get("schema", {}))
        for name in sorted(wanted - property_names(ours, our_media[media].get("schema", {}))):
            missing.append(f"{media} body property {name}")
    for scheme in sorted(security_schemes(ref, theirs) - security_schemes(ours, mine)):
        missing.append(f"security scheme {scheme}")
    return missing


def test_document_passes_openapi_spec_validator(document: dict[str, Any]) -> None:
    validate(document)


def test_reference_operations_are_the_seven_v1_ones(reference: dict[str, Any]) -> None:
    # guards the parametrised test below against reading an empty or wrong reference
    assert len(operations(reference)) == 7


@pytest.mark.parametrize("op", sorted(operations(json.loads(REFERENCE.read_text()))), ids=" ".join)
def test_every_reference_operation_parameter_and_body_field_is_documented(
    document: dict[str, Any], reference: dict[str, Any], op: Operation
) -> None:
    assert missing_from(document, reference, op) == []


def test_the_comparison_notices_what_is_missing(
    document: dict[str, Any], reference: dict[str, Any]
) -> None:
    op = ("POST", "/v1/generation/{engine_id}/image-to-image/masking")
    stripped = json.loads(json.dumps(document))
    body = stripped["paths"][op[1]]["post"]
    body["parameters"] = [p for p in body["parameters"] if p["name"] != "Organization"]
    body.pop("security")
    del stripped["components"]["schemas"]["MaskingRequestBody"]["properties"]["mask_image"]
    assert missing_from(stripped, reference, op) == [
        "header parameter organization",
        "multipart/form-data body property mask_image",
        "security scheme ('apiKey', 'header', 'Authorization')",
    ]


def test_no_fastapi_422_and_no_fastapi_validation_schemas(document: dict[str, Any]) -> None:
    # The only 422 is v2beta's refused prompt, in Stability's v2beta error body.
    with_422 = {
        op: response["422"]
        for op, response in ((op, o["responses"]) for op, o in operations(document).items())
        if "422" in response
    }
    assert set(V2BETA_POSTS) <= {path for _, path in with_422}
    assert all(method == "POST" and path.startswith("/v2beta/") for method, path in with_422)
    for response in with_422.values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/V2betaError"
        }
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


def v2beta_posts() -> list[str]:
    """Every v2beta POST the app serves (read at collection, so each is its own case)."""
    with tempfile.TemporaryDirectory() as data:
        app = create_app(make_settings(Path(data), f"sqlite:///{data}/never-opened.db"))
        paths = app.openapi()["paths"]
    return sorted(p for p, item in paths.items() if p.startswith("/v2beta/") and "post" in item)


V2BETA_POSTS = v2beta_posts()


def test_every_v2beta_operation_is_checked_below() -> None:
    assert len(V2BETA_POSTS) >= 19  # generate 3, upscale 3, edit 6, control 4, video, 3D 2


@pytest.mark.parametrize("path", V2BETA_POSTS)
def test_v2beta_posts_document_every_status_they_answer(
    document: dict[str, Any], path: str
) -> None:
    # Found by schemathesis: an Idempotency-Key reused with other parameters answered an
    # undocumented 409; 503 (full queue) and core's 413 were missing; 422 was dropped.
    responses = document["paths"][path]["post"]["responses"]
    assert {"400", "401", "402", "403", "409", "413", "422", "429", "500", "503"} <= set(responses)


def test_v2beta_result_polls_document_the_rate_limiters_503(document: dict[str, Any]) -> None:
    polls = {p: op for (m, p), op in operations(document).items() if m == "GET" and "/v2beta/" in p}
    assert len(polls) == 3
    for path, op in polls.items():
        assert {"401", "404", "429", "500", "503"} <= set(op["responses"]), path


def test_multipart_text_parts_are_never_null(document: dict[str, Any]) -> None:
    # Found by schemathesis: optional parts were documented as nullable, so a fuzzer
    # sent the text `null` (a multipart part cannot be null), which easel rightly refuses.
    nullable = []
    for (_method, path), op in operations(document).items():
        content = op.get("requestBody", {}).get("content", {})
        if "multipart/form-data" not in content:
            continue
        schema = deref(document, content["multipart/form-data"]["schema"])
        for name, field in schema["properties"].items():
            if {"type": "null"} in field.get("anyOf", []) or field.get("type") == "null":
                nullable.append(f"{path} {name}")
            if "default" in field and field["default"] is None:
                nullable.append(f"{path} {name} (default null)")
    assert nullable == []


def test_a_field_loses_only_its_null_option() -> None:
    class Body(BaseModel):
        a: int | None = Field(default=None, ge=1, description="an a")
        b: int | str | None = None
        c: int = 3

    fragment = multipart_body(Body, files={})
    properties = fragment["x-easel-schemas"]["Body"]["properties"]
    assert properties["a"] == {"type": "integer", "minimum": 1, "title": "A", "description": "an a"}
    assert properties["b"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "title": "B"}
    assert properties["c"] == {"type": "integer", "default": 3, "title": "C"}


NO_403_ROUTES = {"/v1/engines/list", "/v1/user/account", "/v1/user/balance"}


def test_every_v1_operation_is_authenticated_and_documents_the_scope_headers(
    document: dict[str, Any],
) -> None:
    for (method, path), op in operations(document).items():
        if not path.startswith("/v1/"):
            continue
        assert security_schemes(document, op) == {("apiKey", "header", "Authorization")}, path
        headers = {
            name for where, name in parameters(document, (method, path)) if where == "header"
        }
        assert {"organization", "stability-client-id", "stability-client-version"} <= headers
        # 503: the shared (Redis) rate limiter every authenticated request passes is down
        assert {"401", "429", "500", "503"} <= set(op["responses"]), path
        # an organization the key may not act for: 401 where Stability documents no 403
        forbidden = "401" if path in NO_403_ROUTES else "403"
        assert forbidden in op["responses"], path
        assert ("403" in op["responses"]) == (path not in NO_403_ROUTES), path


def test_error_responses_are_stability_errors_of_the_routes_version(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    v1, v2beta = schemas["Error"], schemas["V2betaError"]
    assert set(v1["properties"]) == set(v1["required"]) == {"id", "name", "message"}
    assert set(v2beta["properties"]) == set(v2beta["required"]) == {"id", "name", "errors"}
    for (_method, path), op in operations(document).items():
        expected = "V2betaError" if path.startswith("/v2beta/") else "Error"
        for status, response in op["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{expected}"}, (path, status)


def test_generation_operations_document_bodies_accept_and_results(
    document: dict[str, Any],
) -> None:
    media = {
        "text-to-image": "application/json",
        "image-to-image": "multipart/form-data",
        "image-to-image/masking": "multipart/form-data",
        "image-to-image/upscale": "multipart/form-data",
    }
    for suffix, media_type in media.items():
        path = f"/v1/generation/{{engine_id}}/{suffix}"
        op = document["paths"][path]["post"]
        assert set(op["requestBody"]["content"]) == {media_type}
        assert op["requestBody"]["required"] is True
        if media_type == "multipart/form-data":
            assert "text_prompts[N][text]" in op["requestBody"]["description"]
        assert ("header", "accept") in parameters(document, ("POST", path))
        ok = op["responses"]["200"]
        assert ok["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/GenerationResponseBody"
        }
        assert ok["content"]["image/png"]["schema"] == {"type": "string", "format": "binary"}
        assert {"Finish-Reason", "Seed"} <= set(ok["headers"])


def test_multipart_bodies_carry_binary_image_parts(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for body, files, required in (
        ("ImageToImageRequestBody", {"init_image"}, {"init_image", "text_prompts"}),
        ("MaskingRequestBody", {"init_image", "mask_image"}, {"init_image", "mask_source"}),
        ("UpscaleRequestBody", {"image"}, {"image"}),
    ):
        properties = schemas[body]["properties"]
        for name in files:
            assert properties[name]["type"] == "string"
            assert properties[name]["format"] == "binary"
        assert required <= set(schemas[body]["required"]), body
    assert schemas["TextPrompt"]["required"] == ["text"]


def test_every_request_body_property_is_described(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    names = ["TextPrompt"] + [n for n in schemas if n.endswith("RequestBody")]
    v1 = {"TextToImage", "ImageToImage", "Masking", "Upscale"}
    assert {f"{name}RequestBody" for name in v1} <= set(names)
    undescribed = [
        f"{name}.{prop}"
        for name in names
        for prop, schema in schemas[name]["properties"].items()
        if not schema.get("description")
    ]
    assert undescribed == []


def test_two_different_body_schemas_under_one_name_are_refused() -> None:
    class Body(BaseModel):
        a: int

    json_op = json_body(Body)
    multipart_op = multipart_body(Body, files={"image": "an image"})
    document = {"paths": {"/a": {"post": json_op}, "/b": {"post": multipart_op}}}
    with pytest.raises(ValueError, match="Body"):
        finish(document)


async def test_the_documented_models_read_what_easel_renders(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    store.put("jobs/j/out/0.png", b"png")
    output = OutputFile("jobs/j/out/0.png", "image/png", 42, "SUCCESS", store)
    png = await render_artifacts([output], as_png=False)
    body = GenerationResponseBody.model_validate_json(png.body)
    assert body.artifacts[0].seed == 42
    scope = {"type": "http", "method": "GET", "path": "/v1/x", "headers": [], "state": {}}
    request = Request(scope)
    request.state.request_id = "r1"
    rendered = error_response(request, 400, "bad_request", "nope")
    assert Error.model_validate_json(rendered.body) == Error(
        id="r1", name="bad_request", message="nope"
    )


async def test_invalid_query_parameter_is_a_stability_400_not_a_422(
    client: httpx.AsyncClient, account: TestAccount
) -> None:
    response = await client.get("/v1/generations?limit=many", headers=account.headers)
    assert response.status_code == 400
    assert set(response.json()) == {"id", "name", "message"}
    assert response.json()["name"] == "bad_request"


async def test_openapi_json_is_the_finished_document(
    client: httpx.AsyncClient, document: dict[str, Any]
) -> None:
    served = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in json.dumps(served)
    assert served["components"]["schemas"].keys() == document["components"]["schemas"].keys()


async def test_each_event_of_the_progress_stream_matches_the_documented_event(
    client: httpx.AsyncClient, account: TestAccount, document: dict[str, Any]
) -> None:
    # Found by schemathesis: the stream's schema said `string`, but OpenAPI 3.1 tools read
    # an event stream's schema as one event's ({event, data, ...}), so every event failed.
    body = {"text_prompts": [{"text": "a lighthouse"}], "steps": 10}
    headers = {**account.headers, "Idempotency-Key": "sse-schema"}
    posted = await client.post(f"/v1/generation/{SD}/text-to-image", json=body, headers=headers)
    assert posted.status_code == 200, posted.text
    job = (await client.get("/v1/generations/sse-schema", headers=account.headers)).json()
    stream = await client.get(f"/v1/generations/{job['id']}/events", headers=account.headers)
    events = [
        dict(line.split(": ", 1) for line in block.splitlines())
        for block in stream.text.strip().split("\n\n")
    ]
    op = document["paths"]["/v1/generations/{generation_id}/events"]["get"]
    event_schema = op["responses"]["200"]["content"]["text/event-stream"]["schema"]
    components = {"components": document["components"]}
    status_schema = event_schema["properties"]["data"]["contentSchema"]
    assert events and events[-1]["event"] == "succeeded"
    for event in events:
        jsonschema.validate(event, {**event_schema, **components})
        jsonschema.validate(json.loads(event["data"]), {**status_schema, **components})
