"""The real ISAPI captures under ../shared/fixtures/isapi (never copied here), and the
device dumps' xmltodict JSON turned back into XML so the same parsers read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from tests.conftest import shared_path


def isapi_dir() -> Path:
    return shared_path("fixtures", "isapi")


def capture(name: str) -> bytes:
    return (isapi_dir() / name).read_bytes()


def _element(name: str, value: Any) -> str:
    """xmltodict's JSON of one element back to XML: ``@attr``, ``#text``, lists."""
    if isinstance(value, list):
        return "".join(_element(name, item) for item in value)
    if value is None:
        return f"<{name}/>"
    if not isinstance(value, dict):
        return f"<{name}>{escape(str(value))}</{name}>"
    attrs = "".join(
        f" {'xmlns' if key == '@xmlns' else key[1:]}={quoteattr(str(v))}"
        for key, v in value.items()
        if key.startswith("@")
    )
    inner = escape(str(value["#text"])) if "#text" in value else ""
    inner += "".join(_element(key, v) for key, v in value.items() if not key.startswith(("@", "#")))
    return f"<{name}{attrs}>{inner}</{name}>"


def dump_reply(dump: str, endpoint: str) -> bytes:
    """The reply a dumped NVR gave to ``endpoint`` (e.g. ``ContentMgmt/Storage``), as
    XML bytes; the dump holds xmltodict's parse of the real body."""
    data = json.loads((isapi_dir() / dump).read_text(encoding="utf-8"))
    response = data["data"]["ISAPI"][endpoint]["response"]
    ((name, value),) = response.items()
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + _element(name, value)).encode()


DUMPS = (
    "devices.DS-7608NXI-I2.nvr-dump.json",
    "devices.DS-7732NI-M4.nvr-dump.json",
    "devices.iDS-7208HQHI-M1.nvr-dump.json",
)
