"""One router per resource: every module in this package that defines ``router`` is
included by ``vidaudit/web/app.py`` (health and account first, then by module name), so
a page is added by adding its module; its routes must each declare a permission or be
public, which ``create_app`` enforces."""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter

_FIRST = ("health", "account", "dashboard")


def _discover() -> tuple[APIRouter, ...]:
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    ordered = [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST]
    routers = []
    for name in ordered:
        module = importlib.import_module(f"{__name__}.{name}")
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return tuple(routers)


ROUTERS: tuple[APIRouter, ...] = _discover()
