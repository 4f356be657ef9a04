"""Result types: reading v1 bodies, decoding and saving artifacts."""

from __future__ import annotations

import base64

import httpx
import pytest

from easel.client import Account, APIResponseError, Artifact, Balance, Engine, GenerationResult

PNG = b"\x89PNG\r\n\x1a\n" + bytes(8)
JPEG = b"\xff\xd8\xff\xe0" + bytes(8)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(8)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def generation_response(body, headers=None):
    request = httpx.Request("POST", "https://api.stability.ai/v1/generation/sd/text-to-image")
    return httpx.Response(200, json=body, headers=headers, request=request)


def test_artifact_bytes_extension_and_save(tmp_path):
    artifact = Artifact(base64=b64(JPEG), seed=1, finish_reason="SUCCESS")

    path = artifact.save(tmp_path / "nested" / "a.jpg")

    assert artifact.to_bytes() == JPEG
    assert artifact.extension == ".jpg"
    assert path.read_bytes() == JPEG
    assert Artifact(b64(WEBP), 1, "SUCCESS").extension == ".webp"
    assert Artifact(b64(PNG), 1, "SUCCESS").extension == ".png"
    assert "base64" not in repr(artifact)  # no megabytes in logs


def test_generation_result_save_all_names_files(tmp_path):
    result = GenerationResult.from_response(
        generation_response(
            {
                "artifacts": [
                    {"base64": b64(PNG), "seed": 10, "finishReason": "SUCCESS"},
                    {"base64": b64(PNG), "seed": 11, "finishReason": "CONTENT_FILTERED"},
                ]
            },
            headers={"X-Request-Id": "r", "X-Generation-Id": "g"},
        )
    )

    paths = result.save_all(tmp_path / "out", prefix="cat")

    assert [p.name for p in paths] == ["cat-0-10.png", "cat-1-11.png"]
    assert all(p.read_bytes() == PNG for p in paths)
    assert [a.finish_reason for a in result.artifacts] == ["SUCCESS", "CONTENT_FILTERED"]
    assert (result.request_id, result.generation_id) == ("r", "g")


def test_bare_artifact_array_is_accepted():
    result = GenerationResult.from_response(
        generation_response([{"base64": b64(PNG), "seed": 1, "finish_reason": "SUCCESS"}])
    )

    assert result.artifacts[0].seed == 1
    assert result.request_id is None


@pytest.mark.parametrize(
    "body",
    [{"artifacts": [{"seed": 1}]}, {"artifacts": [{"base64": "%%%"}]}, {"image": "x"}],
)
def test_malformed_generation_bodies(body):
    with pytest.raises(APIResponseError):
        GenerationResult.from_response(generation_response(body))


def test_readers_tolerate_extra_fields_and_reject_missing_ones():
    engine = Engine.from_json(
        {"id": "sd", "name": "SD", "description": "d", "type": "PICTURE", "x": 1}
    )
    assert engine == Engine("sd", "SD", "d", "PICTURE")
    assert Balance.from_json({"credits": 7}) == Balance(7.0)
    with pytest.raises(APIResponseError):
        Balance.from_json({"credits": "many"})
    with pytest.raises(APIResponseError):
        Account.from_json({"email": "no id"})
    with pytest.raises(APIResponseError):
        Engine.from_json(["not", "an", "object"])
