"""The API client commands of the ``easel`` CLI: generate, upscale, edit,
control, video, 3d (v2beta ones built in `operations`), engines, account,
balance. They call `easel.client` over HTTP, so they work the same
against https://api.stability.ai and against an easel server.

Output: results go to stdout (generate/upscale print one saved path per
line; ``--json`` prints JSON instead); progress and errors go to stderr,
errors as one line ``error: <status> <name>: <message> (request id ...)``.

Exit codes:

    0   success
    1   any other API or I/O error
    2   usage error, including a missing API key
    3   bad request (400, 413, 422)
    4   authentication failed (401)
    5   insufficient balance (402)
    6   permission denied or content moderation (403)
    7   not found (404)
    8   conflict (409)
    9   rate limited (429, after retries)
    10  server error (5xx, after retries)
    11  connection failure or timeout (after retries)
    12  an asynchronous result was not ready within --timeout (it may still finish:
        fetch it later by its id)
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any, NoReturn, Protocol

import typer
from rich.console import Console
from rich.table import Table

from easel.cli import operations
from easel.cli.progress import ProgressBar
from easel.client import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    GenerationJob,
    GenerationResult,
    GenerationTimeoutError,
    InsufficientBalanceError,
    MediaResult,
    MissingAPIKeyError,
    MissingHostWarning,
    NotFoundError,
    PermissionDeniedError,
    ProgressCallback,
    RateLimitError,
    ServerError,
    StabilityError,
)
from easel.client._types import image_size

EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (MissingAPIKeyError, 2),
    (BadRequestError, 3),
    (AuthenticationError, 4),
    (InsufficientBalanceError, 5),
    (PermissionDeniedError, 6),
    (NotFoundError, 7),
    (ConflictError, 8),
    (RateLimitError, 9),
    (ServerError, 10),
    (APIConnectionError, 11),
    (GenerationTimeoutError, 12),
)

DEFAULT_ENGINE = "stable-diffusion-v1-6"
DEFAULT_UPSCALE_ENGINE = "esrgan-v1-x2plus"
DEFAULT_SIZE = (512, 512)


class ClientFactory(Protocol):
    """Builds the `Client` a command uses; tests pass one with a mock transport."""

    def __call__(self, *, host: str | None, api_key: str | None) -> Client: ...


def build_client(*, host: str | None, api_key: str | None, **options: Any) -> Client:
    """The default factory: a `Client` for `host` and `api_key` (``options``
    such as ``transport`` or ``sleep`` go to `Client`)."""
    return Client(api_key=api_key, host=host, **options)


def exit_code_for(exc: Exception) -> int:
    """The CLI exit code for a client exception (see the module docstring)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


# The client resolves the environment itself (one precedence, see docs/client.md),
# so these options carry no envvar of their own.
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host",
        help="API base URL; else $API_HOST.",
        show_default="https://api.stability.ai",
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        help="API key; else $STABILITY_API_KEY, else $EASEL_API_KEY.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
OutputOption = Annotated[
    Path,
    typer.Option("--output", "-o", help="Directory to save images in (created if missing)."),
]


def register(app: typer.Typer, *, client_factory: ClientFactory = build_client) -> None:
    """Add ``generate``, ``upscale``, ``engines``, ``account`` and ``balance`` to `app`."""

    def generate(
        prompt: Annotated[str, typer.Argument(help="What to draw.")],
        output: OutputOption = Path("."),
        engine: Annotated[str, typer.Option(help="Engine id.")] = DEFAULT_ENGINE,
        size: Annotated[
            str | None,
            typer.Option(
                help="Image size WxH (with --init-image: must match it).",
                show_default="512x512",
            ),
        ] = None,
        steps: Annotated[int | None, typer.Option(help="Diffusion steps.")] = None,
        seed: Annotated[int | None, typer.Option(help="Seed (0 or unset: random).")] = None,
        samples: Annotated[int | None, typer.Option(help="Number of images.")] = None,
        style: Annotated[str | None, typer.Option(help="Style preset, e.g. photographic.")] = None,
        negative: Annotated[str | None, typer.Option(help="Negative prompt.")] = None,
        cfg_scale: Annotated[float | None, typer.Option(help="Prompt guidance (0-35).")] = None,
        sampler: Annotated[str | None, typer.Option(help="Sampler, e.g. K_DPMPP_2M.")] = None,
        init_image: Annotated[
            Path | None,
            typer.Option(
                "--init-image",
                exists=True,
                dir_okay=False,
                help="Start from this image (image-to-image).",
            ),
        ] = None,
        mask: Annotated[
            Path | None,
            typer.Option(
                exists=True,
                dir_okay=False,
                help="Inpaint where this mask is white (needs --init-image).",
            ),
        ] = None,
        strength: Annotated[
            float | None,
            typer.Option(help="How much of --init-image to keep, 0-1 (image_strength)."),
        ] = None,
        prefix: Annotated[
            str | None, typer.Option(help="File name prefix.", show_default="easel-<timestamp>")
        ] = None,
        host: HostOption = None,
        api_key: ApiKeyOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Generate images with a v1 engine and save them; prints one path per line."""
        if mask is not None and init_image is None:
            raise typer.BadParameter("--mask needs --init-image", param_hint="--mask")
        if strength is not None and (init_image is None or mask is not None):
            raise typer.BadParameter(
                "--strength applies to --init-image without --mask", param_hint="--strength"
            )
        width, height = _parse_size(size) if size is not None else DEFAULT_SIZE
        if size is not None and init_image is not None:
            _check_init_size(init_image, (width, height))
        options: dict[str, Any] = {
            "negative_prompt": negative,
            "cfg_scale": cfg_scale,
            "steps": steps,
            "samples": samples,
            "seed": seed,
            "sampler": sampler,
            "style_preset": style,
        }
        with _reporting_errors():
            client = _open(client_factory, host, api_key)
            with client, _progress_display("Generating") as on_progress:
                options["on_progress"] = on_progress
                if init_image is not None and mask is not None:
                    result = client.masking(
                        engine, init_image, mask, "MASK_IMAGE_WHITE", prompt=prompt, **options
                    )
                elif init_image is not None:
                    result = client.image_to_image(
                        engine, init_image, prompt, image_strength=strength, **options
                    )
                else:
                    result = client.text_to_image(
                        engine, prompt, width=width, height=height, **options
                    )
            paths = result.save_all(output, prefix or time.strftime("easel-%Y%m%d-%H%M%S"))
            _print_saved(result, paths, json_output)

    def upscale(
        image: Annotated[
            Path,
            typer.Argument(exists=True, dir_okay=False, help="The image to upscale."),
        ],
        output: OutputOption = Path("."),
        engine: Annotated[str, typer.Option(help="Upscale engine id.")] = DEFAULT_UPSCALE_ENGINE,
        width: Annotated[int | None, typer.Option(help="Target width (not with --height).")] = None,
        height: Annotated[
            int | None, typer.Option(help="Target height (not with --width).")
        ] = None,
        prompt: Annotated[str | None, typer.Option(help="Prompt (latent upscaler).")] = None,
        seed: Annotated[int | None, typer.Option(help="Seed (latent upscaler).")] = None,
        steps: Annotated[int | None, typer.Option(help="Steps (latent upscaler).")] = None,
        cfg_scale: Annotated[float | None, typer.Option(help="Guidance (latent upscaler).")] = None,
        host: HostOption = None,
        api_key: ApiKeyOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Upscale an image with a v1 engine and save it; prints the saved path."""
        if width is not None and height is not None:
            raise typer.BadParameter("pass --width or --height, not both", param_hint="--width")
        with _reporting_errors():
            client = _open(client_factory, host, api_key)
            with client, _progress_display("Upscaling") as on_progress:
                result = client.upscale(
                    engine,
                    image,
                    on_progress=on_progress,
                    width=width,
                    height=height,
                    prompt=prompt,
                    seed=seed,
                    steps=steps,
                    cfg_scale=cfg_scale,
                )
            paths = result.save_all(output, f"{image.stem}-upscaled")
            _print_saved(result, paths, json_output)

    runner = operations.Runner(
        open_client=lambda host, api_key: _open(client_factory, host, api_key),
        reporting_errors=_reporting_errors,
        progress=_progress_display,
        emit=_print_media,
        emit_pending=_print_pending,
    )
    for name, group in operations.groups(
        runner, {"generate": generate, "upscale": upscale}
    ).items():
        app.add_typer(group, name=name)
    for name, command, help_text in operations.top_level(runner):
        app.command(name, help=help_text)(command)

    @app.command("engines")
    def engines(
        host: HostOption = None,
        api_key: ApiKeyOption = None,
        json_output: JsonOption = False,
        options: Annotated[
            bool,
            typer.Option(
                "--options", help='Print the engines as JSON [{"label": name, "value": id}].'
            ),
        ] = False,
    ) -> None:
        """List the engines your key can use."""
        with _reporting_errors():
            with _open(client_factory, host, api_key) as client:
                found = client.engines()
        if options:
            _print_json([{"label": engine.name, "value": engine.id} for engine in found])
            return
        if json_output:
            _print_json([vars(engine) for engine in found])
            return
        table = Table("Name", "ID", "Type")
        for engine in found:
            table.add_row(engine.name, engine.id, engine.type)
        table.columns[1].no_wrap = True
        Console().print(table)

    @app.command("account")
    def account(
        host: HostOption = None, api_key: ApiKeyOption = None, json_output: JsonOption = False
    ) -> None:
        """Show the account behind your key and its organizations."""
        with _reporting_errors():
            with _open(client_factory, host, api_key) as client:
                user = client.account()
        if json_output:
            orgs = [vars(org) for org in user.organizations]
            _print_json({**vars(user), "organizations": orgs})
            return
        console = Console()
        console.print(f"[bold]{user.email}[/bold] ({user.id})", highlight=False)
        table = Table("Organization", "ID", "Role", "Default")
        for org in user.organizations:
            table.add_row(org.name, org.id, org.role, "yes" if org.is_default else "")
        console.print(table)

    @app.command("balance")
    def balance(
        host: HostOption = None, api_key: ApiKeyOption = None, json_output: JsonOption = False
    ) -> None:
        """Show the credits left."""
        with _reporting_errors():
            with _open(client_factory, host, api_key) as client:
                credits = client.balance().credits
        if json_output:
            _print_json({"credits": credits})
        else:
            typer.echo(f"{credits:g} credits")


def _open(factory: ClientFactory, host: str | None, api_key: str | None) -> Client:
    """The command's client; its warnings (an easel key with no host) become stderr lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingHostWarning)
        client = factory(host=host, api_key=api_key)
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    return client


def _parse_size(size: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", size)
    if match is None:
        raise typer.BadParameter(f"expected WxH such as 512x512, got {size!r}", param_hint="--size")
    return int(match.group(1)), int(match.group(2))


def _check_init_size(init_image: Path, size: tuple[int, int]) -> None:
    """The output takes the size of --init-image: a --size that says the same is fine."""
    try:
        actual = image_size(init_image.read_bytes())
    except OSError:
        return  # reported when the image is sent
    if actual is not None and actual != size:
        raise typer.BadParameter(
            f"--init-image is {actual[0]}x{actual[1]} and the output takes its size; "
            "resize the image or drop --size",
            param_hint="--size",
        )


@contextmanager
def _reporting_errors() -> Iterator[None]:
    """Turn client errors into one stderr line and a distinct exit code."""
    try:
        yield
    except StabilityError as exc:
        _fail(str(exc), exit_code_for(exc))
    except ValueError as exc:  # arguments the client refused before sending
        _fail(str(exc), 2)
    except OSError as exc:  # reading an input or writing an output
        _fail(str(exc), 1)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _progress_display(label: str) -> AbstractContextManager[ProgressCallback | None]:
    """A progress bar on stderr when it is a terminal (its `on_progress` callback), else nothing."""
    console = Console(stderr=True)
    return ProgressBar(console, label) if console.is_terminal else nullcontext(None)


def _print_saved(result: GenerationResult, paths: list[Path], json_output: bool) -> None:
    for artifact, path in zip(result.artifacts, paths, strict=True):
        if artifact.finish_reason != "SUCCESS":
            typer.echo(f"warning: {path}: finish reason {artifact.finish_reason}", err=True)
    if json_output:
        _print_json(
            [
                {"path": str(path), "seed": artifact.seed, "finish_reason": artifact.finish_reason}
                for artifact, path in zip(result.artifacts, paths, strict=True)
            ]
        )
    else:
        for path in paths:
            typer.echo(str(path))


def _print_media(saved: list[tuple[Path, MediaResult]], json_output: bool) -> None:
    for path, result in saved:
        if result.finish_reason != "SUCCESS":
            typer.echo(f"warning: {path}: finish reason {result.finish_reason}", err=True)
    if json_output:
        _print_json(
            [
                {
                    "path": str(path),
                    "media_type": result.media_type,
                    "seed": result.seed,
                    "finish_reason": result.finish_reason,
                    "generation_id": result.generation_id,
                }
                for path, result in saved
            ]
        )
    else:
        for path, _ in saved:
            typer.echo(str(path))


def _print_pending(job: GenerationJob, json_output: bool) -> None:
    if json_output:
        _print_json({"id": job.id, "status": job.status})
    else:
        typer.echo(job.id)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))
