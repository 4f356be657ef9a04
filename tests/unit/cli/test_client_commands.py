"""The client commands of the CLI (generate, upscale, engines, account,
balance) through typer's CliRunner, against a mocked API: stdout carries only
results, errors are one stderr line with a distinct exit code."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path

import httpx
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from easel.cli.client_commands import build_client, register

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
T2I = "/v1/generation/stable-diffusion-v1-6/text-to-image"
ENGINES = [
    {
        "id": "stable-diffusion-xl-1024-v1-0",
        "name": "Stable Diffusion XL 1.0",
        "description": "SDXL",
        "type": "PICTURE",
    },
    {"id": "esrgan-v1-x2plus", "name": "Real-ESRGAN x2", "description": "x2", "type": "PICTURE"},
]


def artifacts(*seeds: int, reason: str = "SUCCESS") -> httpx.Response:
    body = [
        {"base64": base64.b64encode(PNG).decode(), "seed": s, "finishReason": reason} for s in seeds
    ]
    return httpx.Response(200, json={"artifacts": body}, headers={"X-Request-Id": "req-ok"})


def error(status: int, name: str, message: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"id": "e" * 32, "name": name, "message": message},
        headers={"X-Request-Id": "req-err"},
    )


class Api:
    """A fake API: ``routes`` maps "METHOD /path" to a response factory."""

    def __init__(self) -> None:
        self.routes: dict[str, object] = {}
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        outcome = self.routes.get(f"{request.method} {request.url.path}")
        if outcome is None:
            return error(404, "not_found", "no route")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome()  # type: ignore[operator]


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def app(api: Api, sleeps: list[float]) -> typer.Typer:
    app = typer.Typer()
    register(
        app,
        client_factory=functools.partial(
            build_client,
            transport=httpx.MockTransport(api.handler),
            sleep=sleeps.append,
            rate_limit=None,
        ),
    )
    return app


def run(app: typer.Typer, *args: str, key: str | None = "sk-cli"):
    env = {"STABILITY_API_KEY": key} if key else {}
    return CliRunner().invoke(app, list(args), env=env)


def test_generate_saves_images_and_prints_one_path_per_line(app, api, tmp_path):
    api.routes[f"POST {T2I}"] = lambda: artifacts(101, 102)
    out = tmp_path / "out"

    result = run(app, "generate", "a lighthouse on a cliff", "-o", str(out), "--samples", "2")

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line, seed in zip(lines, (101, 102), strict=True):
        path = Path(line)
        assert path.parent == out
        assert path.name.endswith(f"-{seed}.png")
        assert path.read_bytes() == PNG
    assert result.stderr == ""  # no spinner when stderr is not a terminal
    request = api.requests[0]
    assert request.headers["Authorization"] == "Bearer sk-cli"
    assert json.loads(request.content) == {
        "text_prompts": [{"text": "a lighthouse on a cliff", "weight": 1.0}],
        "width": 512,
        "height": 512,
        "samples": 2,
    }


def test_generate_options_reach_the_request(app, api, tmp_path):
    api.routes["POST /v1/generation/stable-diffusion-xl-1024-v1-0/text-to-image"] = lambda: (
        artifacts(1)
    )

    result = run(
        app,
        "generate",
        "a cat",
        "-o",
        str(tmp_path),
        "--engine",
        "stable-diffusion-xl-1024-v1-0",
        "--size",
        "1152x896",
        "--steps",
        "40",
        "--seed",
        "7",
        "--style",
        "anime",
        "--negative",
        "dogs",
        "--cfg-scale",
        "9.5",
        "--sampler",
        "K_EULER",
        "--prefix",
        "cat",
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{tmp_path / 'cat-0-1.png'}\n"
    assert json.loads(api.requests[0].content) == {
        "text_prompts": [{"text": "a cat", "weight": 1.0}, {"text": "dogs", "weight": -1.0}],
        "width": 1152,
        "height": 896,
        "steps": 40,
        "seed": 7,
        "style_preset": "anime",
        "cfg_scale": 9.5,
        "sampler": "K_EULER",
    }


def test_generate_json_output(app, api, tmp_path):
    api.routes[f"POST {T2I}"] = lambda: artifacts(5, 6)

    result = run(app, "generate", "x", "-o", str(tmp_path), "--prefix", "p", "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"path": str(tmp_path / "p-0-5.png"), "seed": 5, "finish_reason": "SUCCESS"},
        {"path": str(tmp_path / "p-1-6.png"), "seed": 6, "finish_reason": "SUCCESS"},
    ]


def test_generate_warns_about_filtered_images_on_stderr(app, api, tmp_path):
    api.routes[f"POST {T2I}"] = lambda: artifacts(5, reason="CONTENT_FILTERED")

    result = run(app, "generate", "x", "-o", str(tmp_path))

    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1
    assert "CONTENT_FILTERED" in result.stderr


def test_generate_with_init_image_is_image_to_image(app, api, tmp_path):
    init = tmp_path / "in.png"
    init.write_bytes(PNG)
    api.routes["POST /v1/generation/stable-diffusion-v1-6/image-to-image"] = lambda: artifacts(1)

    result = run(
        app,
        "generate",
        "night",
        "-o",
        str(tmp_path),
        "--init-image",
        str(init),
        "--strength",
        "0.4",
    )

    assert result.exit_code == 0, result.stderr
    body = api.requests[0].content
    assert b'name="init_image"; filename="in.png"' in body
    assert b'name="image_strength"\r\n\r\n0.4\r\n' in body
    assert b'name="init_image_mode"\r\n\r\nIMAGE_STRENGTH\r\n' in body
    assert b'name="width"' not in body


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_generate_accepts_a_size_that_matches_the_init_image(app, api, tmp_path, fmt):
    init = tmp_path / "in.img"
    Image.new("RGB", (640, 384)).save(init, format=fmt)
    api.routes["POST /v1/generation/stable-diffusion-v1-6/image-to-image"] = lambda: artifacts(1)

    ok = run(
        app, "generate", "x", "-o", str(tmp_path), "--init-image", str(init), "--size", "640x384"
    )
    wrong = run(app, "generate", "x", "--init-image", str(init), "--size", "512x512")

    assert ok.exit_code == 0, ok.stderr
    assert b'name="width"' not in api.requests[0].content
    assert wrong.exit_code == 2
    assert "640x384" in wrong.stderr
    assert len(api.requests) == 1


def test_generate_with_mask_is_masking_white(app, api, tmp_path):
    init, mask = tmp_path / "in.png", tmp_path / "mask.png"
    init.write_bytes(PNG)
    mask.write_bytes(PNG)
    api.routes["POST /v1/generation/stable-diffusion-v1-6/image-to-image/masking"] = lambda: (
        artifacts(1)
    )

    result = run(
        app,
        "generate",
        "a door",
        "-o",
        str(tmp_path),
        "--init-image",
        str(init),
        "--mask",
        str(mask),
    )

    assert result.exit_code == 0, result.stderr
    body = api.requests[0].content
    assert b'name="mask_source"\r\n\r\nMASK_IMAGE_WHITE\r\n' in body
    assert b'name="mask_image"; filename="mask.png"' in body


@pytest.mark.parametrize(
    "args",
    [
        ("--mask", "{png}"),
        ("--strength", "0.5"),
        ("--init-image", "{png}", "--size", "0x0x0"),
        ("--size", "big"),
    ],
)
def test_generate_usage_errors_exit_2(app, api, tmp_path, args):
    png = tmp_path / "x.png"
    png.write_bytes(PNG)

    result = run(app, "generate", "x", *(a.format(png=png) for a in args))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert api.requests == []


@pytest.mark.parametrize(
    ("status", "name", "code"),
    [
        (400, "invalid_height_or_width", 3),
        (401, "unauthorized", 4),
        (402, "insufficient_balance", 5),
        (403, "permission_denied", 6),
        (404, "not_found", 7),
        (409, "conflict", 8),
        (429, "rate_limit_exceeded", 9),
        (500, "server_error", 10),
    ],
)
def test_api_errors_print_one_line_and_exit_with_distinct_codes(
    app, api, sleeps, tmp_path, status, name, code
):
    api.routes[f"POST {T2I}"] = lambda: error(status, name, "it failed")

    result = run(app, "generate", "x", "-o", str(tmp_path))

    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr == f"error: {status} {name}: it failed (request id req-err)\n"
    assert list(tmp_path.iterdir()) == []
    if status in (429, 500):
        assert len(sleeps) == 4  # retried, with the injected (fake) sleep


def test_connection_failure_exit_code(app, api):
    api.routes["GET /v1/user/balance"] = httpx.ConnectError("[Errno 111] Connection refused")

    result = run(app, "balance")

    assert result.exit_code == 11
    assert result.stderr.startswith("error: could not talk to https://api.stability.ai")
    assert len(result.stderr.splitlines()) == 1


def test_missing_key_exits_2_with_a_clear_message(app, api):
    result = run(app, "balance", key=None)

    assert result.exit_code == 2
    assert "no API key" in result.stderr
    assert "STABILITY_API_KEY" in result.stderr
    assert api.requests == []


def test_host_and_key_options_and_env(app, api):
    api.routes["GET /v1/user/balance"] = lambda: httpx.Response(200, json={"credits": 1})

    first = CliRunner().invoke(
        app, ["balance"], env={"API_HOST": "http://easel:8000", "EASEL_API_KEY": "sk-e"}
    )
    second = run(app, "balance", "--host", "https://other.example", "--api-key", "sk-flag")

    assert first.exit_code == second.exit_code == 0
    assert str(api.requests[0].url) == "http://easel:8000/v1/user/balance"
    assert api.requests[0].headers["Authorization"] == "Bearer sk-e"
    assert api.requests[1].url.host == "other.example"
    assert api.requests[1].headers["Authorization"] == "Bearer sk-flag"


def test_engines_table_shows_names_and_ids(app, api):
    api.routes["GET /v1/engines/list"] = lambda: httpx.Response(200, json=ENGINES)

    result = run(app, "engines")

    assert result.exit_code == 0, result.stderr
    for engine in ENGINES:
        assert engine["name"] in result.stdout
        assert engine["id"] in result.stdout


def test_engines_json(app, api):
    api.routes["GET /v1/engines/list"] = lambda: httpx.Response(200, json=ENGINES)

    result = run(app, "engines", "--json")

    assert json.loads(result.stdout) == ENGINES


def test_account_and_balance(app, api):
    api.routes["GET /v1/user/account"] = lambda: httpx.Response(
        200,
        json={
            "id": "user-1",
            "email": "ada@example.com",
            "organizations": [
                {"id": "org-1", "name": "Personal", "role": "OWNER", "is_default": True}
            ],
        },
    )
    api.routes["GET /v1/user/balance"] = lambda: httpx.Response(200, json={"credits": 42.5})

    account = run(app, "account")
    account_json = run(app, "account", "--json")
    balance = run(app, "balance")
    balance_json = run(app, "balance", "--json")

    assert account.exit_code == 0, account.stderr
    assert "ada@example.com" in account.stdout
    assert "org-1" in account.stdout
    assert json.loads(account_json.stdout)["organizations"][0]["is_default"] is True
    assert balance.stdout == "42.5 credits\n"
    assert json.loads(balance_json.stdout) == {"credits": 42.5}


def test_upscale_saves_and_prints_path(app, api, tmp_path):
    image = tmp_path / "photo.png"
    image.write_bytes(PNG)
    api.routes["POST /v1/generation/esrgan-v1-x2plus/image-to-image/upscale"] = lambda: artifacts(0)
    out = tmp_path / "up"

    result = run(app, "upscale", str(image), "-o", str(out), "--width", "2048")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{out / 'photo-upscaled-0-0.png'}\n"
    assert (out / "photo-upscaled-0-0.png").read_bytes() == PNG
    body = api.requests[0].content
    assert b'name="width"\r\n\r\n2048\r\n' in body
    assert b'name="image"; filename="photo.png"' in body


def test_upscale_width_and_height_is_a_usage_error(app, api, tmp_path):
    image = tmp_path / "photo.png"
    image.write_bytes(PNG)

    result = run(app, "upscale", str(image), "--width", "1024", "--height", "1024")

    assert result.exit_code == 2
    assert api.requests == []


def test_version_prints_the_package_version():
    from easel import __version__
    from easel.cli.main import app as easel_app

    result = CliRunner().invoke(easel_app, ["--version"])

    assert result.exit_code == 0
    assert result.stdout == f"{__version__}\n"


def test_an_easel_key_without_a_host_warns_on_one_stderr_line(app, api):
    api.routes["GET /v1/user/balance"] = lambda: httpx.Response(200, json={"credits": 1})

    result = CliRunner().invoke(app, ["balance"], env={"EASEL_API_KEY": "sk-e"})

    assert result.exit_code == 0
    assert result.stderr == (
        "warning: the key comes from EASEL_API_KEY but no host is set "
        "(host=, --host or API_HOST): requests go to https://api.stability.ai\n"
    )
    assert result.stdout == "1 credits\n"
