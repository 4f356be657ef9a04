"""The v2beta commands, built from the SDK's operation signatures:
``easel generate ultra|core|sd3``, ``easel upscale fast|conservative|creative``,
``easel edit …``, ``easel control …``, ``easel video`` and ``easel 3d …``.

Each SDK parameter becomes an argument (required) or an option (optional)
with the API's name, description and limits, so a command says what the API
says and nothing is declared twice. Every command saves its file and prints
its path (``--json``: a JSON object); asynchronous operations wait for their
result with a progress bar, or print the generation id with ``--no-wait``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from easel.client import Client, GenerationJob, MediaResult
from easel.client._operations import Operations
from easel.client._params import ParamInfo, describe

#: (group, command, SDK method). The v1 `generate` and `upscale` stay their
#: groups' default commands, so ``easel generate "a prompt"`` works as before.
COMMANDS: tuple[tuple[str, str, Callable[..., Any]], ...] = (
    ("generate", "ultra", Operations.generate_ultra),
    ("generate", "core", Operations.generate_core),
    ("generate", "sd3", Operations.generate_sd3),
    ("upscale", "fast", Operations.upscale_fast),
    ("upscale", "conservative", Operations.upscale_conservative),
    ("upscale", "creative", Operations.upscale_creative),
    ("edit", "erase", Operations.edit_erase),
    ("edit", "inpaint", Operations.edit_inpaint),
    ("edit", "outpaint", Operations.edit_outpaint),
    ("edit", "search-and-replace", Operations.edit_search_and_replace),
    ("edit", "search-and-recolor", Operations.edit_search_and_recolor),
    ("edit", "remove-background", Operations.edit_remove_background),
    ("edit", "replace-background-and-relight", Operations.edit_replace_background_and_relight),
    ("control", "sketch", Operations.control_sketch),
    ("control", "structure", Operations.control_structure),
    ("control", "style", Operations.control_style),
    ("control", "style-transfer", Operations.control_style_transfer),
    ("3d", "fast", Operations.stable_fast_3d),
    ("3d", "point-aware", Operations.stable_point_aware_3d),
)
#: Commands with no group of their own.
TOP_LEVEL: tuple[tuple[str, Callable[..., Any]], ...] = (("video", Operations.image_to_video),)

GROUP_HELP = {
    "generate": "Generate images: v1 engines (the default), or a v2beta service.",
    "upscale": "Upscale an image: v1 engines (the default), or a v2beta service.",
    "edit": "Edit an image (v2beta stable-image/edit).",
    "control": "Generate guided by an image (v2beta stable-image/control).",
    "3d": "Make a 3D model (GLB) from an image.",
}


class DefaultCommandGroup(TyperGroup):
    """A group whose first argument, when it names no subcommand, goes to the
    default command: ``easel generate "a fox"`` is ``easel generate v1 "a fox"``."""

    default_command = "v1"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # typer's vendored Context
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


class Runner:
    """What the commands need from client_commands (error handling, output)."""

    def __init__(
        self,
        open_client: Callable[[str | None, str | None], Client],
        reporting_errors: Callable[[], Any],
        progress: Callable[[str], Any],
        emit: Callable[[list[tuple[Path, MediaResult]], bool], None],
        emit_pending: Callable[[GenerationJob, bool], None],
    ) -> None:
        self.open_client = open_client
        self.reporting_errors = reporting_errors
        self.progress = progress
        self.emit = emit
        self.emit_pending = emit_pending


def groups(runner: Runner, defaults: dict[str, Callable[..., Any]]) -> dict[str, typer.Typer]:
    """The command groups, each with its v2beta commands (and a v1 default where given)."""
    apps: dict[str, typer.Typer] = {}
    for group, name, method in COMMANDS:
        if group not in apps:
            cls = DefaultCommandGroup if group in defaults else TyperGroup
            apps[group] = typer.Typer(help=GROUP_HELP[group], cls=cls, no_args_is_help=True)
            if group in defaults:
                apps[group].command("v1", help=defaults[group].__doc__)(defaults[group])
        apps[group].command(name, help=_help(method))(build_command(runner, name, method))
    return apps


def top_level(runner: Runner) -> list[tuple[str, Callable[..., Any], str]]:
    return [(name, build_command(runner, name, m), _help(m)) for name, m in TOP_LEVEL]


def build_command(runner: Runner, name: str, method: Callable[..., Any]) -> Callable[..., None]:
    """A typer command function for `method`, its signature made from the SDK's."""
    infos = describe(method)
    is_job = "JobT" in str(inspect.signature(method).return_annotation)
    has_progress = "on_progress" in inspect.signature(method).parameters

    def command(**kwargs: Any) -> None:
        output: Path = kwargs.pop("output")
        json_output: bool = kwargs.pop("json_output")
        wait: bool = kwargs.pop("wait", True)
        timeout: float | None = kwargs.pop("timeout", None)
        host, api_key = kwargs.pop("host"), kwargs.pop("api_key")
        arguments = {key: value for key, value in kwargs.items() if value is not None}
        with runner.reporting_errors():
            client = runner.open_client(host, api_key)
            with client, runner.progress(f"{name}") as on_progress:
                call = getattr(client, method.__name__)
                if not is_job:
                    if has_progress:
                        arguments["on_progress"] = on_progress
                    result = call(**arguments)
                else:
                    job = call(**arguments)
                    if not wait:
                        runner.emit_pending(job, json_output)
                        return
                    result = job.wait(timeout=timeout, on_progress=on_progress)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = result.save(output / f"easel-{name}-{stamp}{result.extension}")
            runner.emit([(path, result)], json_output)

    parameters = [_parameter(info) for info in infos]
    parameters += _common(is_job)
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = name.replace("-", "_")
    return command


def _parameter(info: ParamInfo) -> inspect.Parameter:
    help_text = info.param.description if info.param else ""
    limits = info.param.limits() if info.param else ""
    if limits and not (info.param and info.param.choices):
        help_text = f"{help_text} [{limits}]"
    kind = Path if info.is_image else info.annotation
    if info.required:
        marker: Any = typer.Argument(
            help=help_text, show_default=False, **_path_checks(info.is_image)
        )
        annotation: Any = Annotated[kind, marker]
    else:
        marker = typer.Option(
            "--" + info.name.replace("_", "-"),
            help=help_text,
            show_default=False,
            **_path_checks(info.is_image),
        )
        annotation = Annotated[kind | None, marker]
    default = inspect.Parameter.empty if info.required else None
    return inspect.Parameter(
        info.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _path_checks(is_image: bool) -> dict[str, Any]:
    return {"exists": True, "dir_okay": False} if is_image else {}


def _common(is_job: bool) -> Sequence[inspect.Parameter]:
    def option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
        )

    common = [
        option(
            "output",
            Annotated[Path, typer.Option("--output", "-o", help="Directory to save in.")],
            Path("."),
        ),
        option(
            "host",
            Annotated[str | None, typer.Option("--host", help="API base URL; else $API_HOST.")],
            None,
        ),
        option(
            "api_key",
            Annotated[
                str | None,
                typer.Option(
                    "--api-key", help="API key; else $STABILITY_API_KEY, else $EASEL_API_KEY."
                ),
            ],
            None,
        ),
        option(
            "json_output",
            Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")],
            False,
        ),
    ]
    if is_job:
        common += [
            option(
                "wait",
                Annotated[
                    bool,
                    typer.Option(help="Wait for the result (else print the generation id)."),
                ],
                True,
            ),
            option(
                "timeout",
                Annotated[
                    float | None, typer.Option(help="Seconds to wait at most (default: no limit).")
                ],
                None,
            ),
        ]
    return common


def _help(method: Callable[..., Any]) -> str:
    return (method.__doc__ or "").strip().splitlines()[0]
