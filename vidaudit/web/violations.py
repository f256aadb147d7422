"""Violations, fault tickets and picture checks in the reader's language.

A stored violation carries a code and its parameters: its ``rule`` (``R3.clock``) and its
``evidence`` (``{"drift_s": 243.0, "max_s": 60}``); the collector's English ``detail`` is
for logs and the JSON output only and is never shown on a page, in a report or an export.
Every page, the weekly report (HTML and PDF), the exports and the daily check say a
violation through ``explain`` and the catalogues (``dashboard.rule.<rule>`` for its name,
``dashboard.rule_text.<rule>[_<variant>]`` for what was found).

A rule this version does not know (written by a newer collector) is named by its id and
said in words only if the catalogue has its keys, its evidence filling the placeholders;
otherwise the page says it cannot explain it - never the English sentence.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vidaudit.errors import ErrorKind
from vidaudit.picture.checks import PRECEDENCE
from vidaudit.readings import DISK_STATES
from vidaudit.web.i18n import Translator

#: every rule id the collector writes (vidaudit/compliance/rules.py, picture.py and
#: identity.py); the tests check each has a title and an explanation in both languages
KNOWN_RULES = (
    "R1.retention",
    "R1.unverifiable",
    "R1.missing_days",
    "R2.business_hours",
    "R2.unverifiable",
    "R3.clock",
    "R4.picture",
    "R5.audio",
    "R5.unverifiable",
    "R6.offline",
    "R6.identity",
    "R6.no_recording",
    "R6.not_recording",
    "R6.storage",
    "R6.unverifiable",
)
#: why a device could not be read, each with a message: every ``ErrorKind``, so a kind
#: added there fails the catalogue test until it has words
ERROR_KINDS = tuple(kind.value for kind in ErrorKind)
#: the picture checks (no OpenCV in the web process to translate them)
DIAG_CHECKS = PRECEDENCE
#: days listed by name in a sentence; the rest are counted
_DAYS_SHOWN = 5


def rule_slug(rule: str) -> str:
    """``R1.retention`` -> ``r1_retention`` (catalogue keys are lower case)."""
    return rule.lower().replace(".", "_")


@dataclass(frozen=True)
class Explained:
    rule: str
    severity: str
    #: the rule's name ("R3 设备时间不准")
    title: str
    #: what was found, with its numbers
    text: str
    #: the failure's own words where a device call failed (technical, untranslated: what
    #: an administrator passes on to the vendor), shown under the text and marked as such
    detail: str = ""

    @property
    def line(self) -> str:
        """Name and finding in one line, for a table cell or a report row."""
        return f"{self.title}:{self.text}" if self.text else self.title


def _days(value: object, t: Translator) -> tuple[int, str]:
    days = [str(d) for d in value] if isinstance(value, list) else []
    shown = t("dashboard.list_sep").join(days[:_DAYS_SHOWN])
    if len(days) > _DAYS_SHOWN:
        shown += t("dashboard.and_more", n=len(days) - _DAYS_SHOWN)
    return len(days), shown


def error_kind_text(kind: object, t: Translator) -> str:
    if isinstance(kind, str) and kind in ERROR_KINDS:
        return t(f"dashboard.error_kind.{kind}")
    return t("dashboard.error_kind.other")


def check_names(checks: Sequence[object], t: Translator) -> str:
    """Picture checks' names (``["frozen", "blur"]`` -> ``画面冻结、画面模糊``)."""
    names = [
        t(f"patrol.check_{c}") if c in DIAG_CHECKS else t("patrol.check_unknown") for c in checks
    ]
    return t("dashboard.list_sep").join(names) or t("patrol.check_unknown")


def _disk(value: object, t: Translator) -> str:
    """``"2:error"`` (R6.storage's evidence: the disk's id and state) -> ``2(故障)``: the
    state in the reader's words, the id as the device names it."""
    disk_id, _, state = str(value).rpartition(":")
    if not disk_id:
        return str(value)
    known = state if state in DISK_STATES else "other"
    return t("dashboard.disk_named", disk=disk_id, state=t(f"dashboard.disk_state.{known}"))


def _number(value: object, fmt: str) -> str:
    try:
        return format(float(value), fmt)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "?"


def _values(rule: str, evidence: Mapping[str, Any], t: Translator) -> tuple[str, dict[str, object]]:
    """(text key suffix, placeholder values) for a known rule."""
    slug = rule_slug(rule)
    if rule == "R1.retention":
        return slug, {
            "held": _number(evidence.get("held_days"), ".1f"),
            "required": evidence.get("required_days", "?"),
        }
    if rule == "R1.unverifiable":
        why = evidence.get("why")
        variant = f"{slug}_{why}" if why in ("no_search", "implausible") else slug
        return variant, {"required": evidence.get("required_days", "?")}
    if rule in ("R1.missing_days", "R2.business_hours"):
        count, shown = _days(evidence.get("days"), t)
        return slug, {
            "count": count,
            "days": shown,
            "minutes": _number(evidence.get("missing_min"), ".0f"),
        }
    if rule == "R3.clock":
        drift = evidence.get("drift_s")
        # "+243", "-75": the sign says fast or slow; never "-0"
        rounded = round(float(drift)) if isinstance(drift, int | float) else None
        return slug, {
            "drift": f"{rounded:+d}" if rounded else "0" if rounded == 0 else "?",
            "max": _number(evidence.get("max_s"), ".0f"),
        }
    if rule == "R4.picture":
        failed = evidence.get("failed")
        checks = failed if isinstance(failed, list) else [evidence.get("primary")]
        return slug, {"checks": check_names(checks, t)}
    if rule in ("R2.unverifiable", "R6.unverifiable"):
        # which call failed and how (the kind, translated); the failure's words go below
        state = rule == "R6.unverifiable" and evidence.get("fact") == "recording_state"
        return f"{slug}_state" if state else slug, {
            "call": evidence.get("call", "?"),
            "kind": error_kind_text(evidence.get("error_kind"), t),
        }
    if rule == "R6.offline":
        return slug, {"kind": error_kind_text(evidence.get("error_kind"), t)}
    if rule == "R6.identity":
        return slug, {
            "seen": evidence.get("seen_serial") or "?",
            "pinned": evidence.get("pinned_serial") or "?",
        }
    if rule == "R6.storage":
        disks = evidence.get("disks")
        named = [_disk(d, t) for d in disks] if isinstance(disks, list) else []
        return slug, {"disks": t("dashboard.list_sep").join(named) or "-"}
    if rule == "R6.not_recording" and evidence.get("age_min") is not None:
        return f"{slug}_stale", {"minutes": evidence.get("age_min")}
    return slug, {}


def explain(violation: Mapping[str, Any], t: Translator) -> Explained:
    """A stored violation (``{rule, severity, evidence, ...}``) as the reader's language
    says it."""
    rule = str(violation.get("rule", ""))
    severity = str(violation.get("severity", ""))
    evidence = violation.get("evidence") or {}
    slug = rule_slug(rule)
    if rule in KNOWN_RULES:
        suffix, values = _values(rule, evidence, t)
        message = evidence.get("message") if rule.endswith(".unverifiable") else None
        return Explained(
            rule,
            severity,
            t(f"dashboard.rule.{slug}"),
            t(f"dashboard.rule_text.{suffix}", **values),
            t("dashboard.rule_detail", detail=str(message)) if message else "",
        )
    title_key, text_key = f"dashboard.rule.{slug}", f"dashboard.rule_text.{slug}"
    if t.has(title_key) and t.has(text_key):
        # a rule added later, with its words in the catalogue: its evidence fills them
        wanted = {n for _, n, _, _ in string.Formatter().parse(t.raw(text_key)) if n}
        values = {name: evidence.get(name, "?") for name in wanted}
        return Explained(rule, severity, t(title_key), t(text_key, **values))
    return Explained(rule, severity, rule, t("dashboard.rule_text.unknown"))


def explain_ticket(
    rule: str, severity: str, evidence: Mapping[str, Any], t: Translator
) -> Explained:
    """A fault ticket says what its violation said (its ``detail`` is the English one)."""
    return explain({"rule": rule, "severity": severity, "evidence": evidence}, t)
