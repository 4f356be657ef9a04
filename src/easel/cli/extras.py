"""One line instead of a traceback when an operator command runs on a client-only install.

The base distribution is the client SDK and CLI; `easel serve`, `easel db`
and `easel admin` import the server packages when they run. If those are
missing, `main()` asks `missing_extra_hint()` what to say.
"""

from __future__ import annotations

DISTRIBUTION = "easel-server"

#: The extra that provides each top-level module the operator commands import.
EXTRA_OF_MODULE = {
    **dict.fromkeys(
        (
            "fastapi",
            "starlette",
            "uvicorn",
            "sqlalchemy",
            "alembic",
            "pydantic",
            "pydantic_settings",
            "multipart",
            "python_multipart",
            "prometheus_client",
            "PIL",
            "numpy",
        ),
        "server",
    ),
    **dict.fromkeys(
        ("torch", "diffusers", "transformers", "safetensors", "accelerate", "scipy"), "inference"
    ),
    "psycopg": "postgres",
    "redis": "redis",
    "celery": "celery",
}


def missing_extra_hint(exc: ModuleNotFoundError) -> str | None:
    """The one-line install hint for a missing optional module, else ``None`` (a real bug)."""
    module = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    extras = "server" if extra == "server" else f"server,{extra}"
    return (
        f"error: this command needs the {extra} extras (no module named {module!r}); "
        f"install them: pip install '{DISTRIBUTION}[{extras}]' "
        f"(from a checkout: pip install -e '.[{extras}]')"
    )
