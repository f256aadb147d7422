"""Resolve a channel's secret references (``${ENV_NAME}``, ``file:PATH``) when sending.

A reference that does not resolve is a ``ConfigError`` naming the variable or file, never
the value; resolved secrets live only in the sending call's locals.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from vidaudit.errors import ConfigError


def resolve(reference: str, environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    if reference.startswith("${") and reference.endswith("}"):
        name = reference[2:-1]
        value = env.get(name)
        if not value:
            raise ConfigError(f"environment variable {name} is not set")
        return value
    if reference.startswith("file:"):
        path = Path(reference.removeprefix("file:"))
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        if not lines or not lines[0].strip():
            raise ConfigError(f"{path} is empty")
        return lines[0].strip()
    # The settings' validation lets only references through; a literal here is a bug.
    raise ConfigError("not a secret reference (expected ${ENV_NAME} or file:PATH)")


def maybe(reference: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    return None if reference is None else resolve(reference, environ)
