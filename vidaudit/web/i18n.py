"""Message catalogues (Simplified Chinese default, English) and time display.

Catalogues are flat JSON files ``web/locales/<lang>.json`` and ``<lang>.<page>.json``:
``{"key": "text {name}"}``.
Keys are dotted and start with the page or area that owns them (``nav.``, ``login.``,
``dashboard.``, ``role.``, ``perm.``, ``error.``); placeholders use ``str.format`` names.
Both files must have the same keys (a test checks), so no page is half translated.

Times: the database holds UTC; a person sees the branch's local time (``fmt_dt``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
#: shown for users who see every branch, and when a branch's zone is unknown
DEFAULT_TIMEZONE = "Asia/Shanghai"

_FORMATS = {
    "datetime": "%Y-%m-%d %H:%M",
    "seconds": "%Y-%m-%d %H:%M:%S",
    "date": "%Y-%m-%d",
    "time": "%H:%M",
}


def normalise_language(value: str | None) -> str | None:
    """'en', 'en-US', 'zh-CN', 'zh_Hans' -> 'en' / 'zh'; anything else -> None."""
    if not value:
        return None
    base = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else None


@dataclass(frozen=True)
class Catalogue:
    messages: Mapping[str, Mapping[str, str]]  # lang -> key -> text

    @classmethod
    def load(cls, directory: Path) -> Catalogue:
        """``<lang>.json`` plus any ``<lang>.<page>.json`` (one file per page group, so
        pages can be written side by side); a key defined twice is an error."""
        messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            merged: dict[str, str] = {}
            for path in [directory / f"{lang}.json", *sorted(directory.glob(f"{lang}.*.json"))]:
                data = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(data, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in data.items()
                ):
                    raise ValueError(f"{path}: expected a flat object of strings")
                twice = sorted(set(merged) & set(data))
                if twice:
                    raise ValueError(f"{path}: keys already defined elsewhere: {twice}")
                merged.update(data)
            messages[lang] = merged
        return cls(messages)

    def translate(self, lang: str, key: str, **values: object) -> str:
        table = self.messages.get(lang) or self.messages[DEFAULT_LANGUAGE]
        text = table.get(key)
        if text is None:
            # A missing key is a bug the key-usage test should have caught; show the key
            # rather than break the page for the person using it.
            log.warning("missing message %r for language %s", key, lang)
            return key
        if not values:
            return text
        try:
            return text.format_map(values)
        except (KeyError, IndexError, ValueError):
            log.warning("message %r (%s) does not fit values %s", key, lang, sorted(values))
            return text

    def translator(self, lang: str) -> Translator:
        return Translator(self, lang)


@dataclass(frozen=True)
class Translator:
    """The ``t`` templates and handlers call: ``t("nav.dashboard")``, ``t("x.y", n=3)``."""

    catalogue: Catalogue
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        return self.catalogue.translate(self.lang, key, **values)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r; showing %s", name, DEFAULT_TIMEZONE)
        return ZoneInfo(DEFAULT_TIMEZONE)


def localtime(value: dt.datetime, tz: str | None = None) -> dt.datetime:
    """An aware datetime moved into ``tz`` (the branch's zone).  Naive values are refused:
    the database never hands them out, so one here is a bug, not something to guess at."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: only aware times can be shown")
    return value.astimezone(zone(tz))


def fmt_dt(value: dt.datetime | None, tz: str | None = None, fmt: str = "datetime") -> str:
    """``2026-11-20 09:30`` in the branch's zone; ``fmt``: datetime, seconds, date, time.

    The zone's offset is appended when it is not China Standard Time, so a time from a
    branch in another zone is never mistaken for Beijing time.
    """
    if value is None:
        return ""
    local = localtime(value, tz)
    text = local.strftime(_FORMATS.get(fmt, fmt))
    offset = local.utcoffset()
    if fmt != "date" and offset is not None and offset != dt.timedelta(hours=8):
        text += local.strftime(" UTC%z")[:-2] + ":" + local.strftime("%z")[-2:]
    return text


def fmt_bytes(value: int | None) -> str:
    """A disk size as recorders show it: binary units named GB and TB (a "4 TB" disk
    is 4,000 GB on the NVR's own screen); "—" when unknown."""
    if value is None:
        return "—"
    gib = value / 1024**3
    if gib >= 1000:
        return f"{gib / 1024:.1f} TB"
    return f"{gib:.0f} GB" if gib >= 10 else f"{gib:.1f} GB"
