"""The domain's codes in the reader's words: inspection items and where they come from,
finding statuses, spot-check plan parameters.

One function per kind of code, used by every page, the weekly report (HTML and PDF) and
the exports, so a status has one name everywhere and no code reaches a reader as is
(``large_withdrawal_warning``, ``roles=['counter']``).  Templates reach these through the
base context (``item_name``, ``item_source``, ``status_text``, ``plan_params``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidaudit.inventory.schema import ChannelRole
from vidaudit.review.findings import Status
from vidaudit.review.items import BY_CODE, InspectionItem
from vidaudit.web.i18n import Translator

FINDING_STATUSES = tuple(s.value for s in Status)
CHANNEL_ROLES = tuple(r.value for r in ChannelRole)


def item_name(code: str, lang: str, t: Translator) -> str:
    """An inspection item's text (an item this version no longer has says so)."""
    item = BY_CODE.get(code)
    return item.text(lang) if item is not None else t("review.item_unknown")


def item_source(item: InspectionItem | None, t: Translator) -> str:
    """``第4、9条`` / ``Art. 4, 9``, or the item's basis (``银行通知``)."""
    if item is None:
        return ""
    if item.articles:
        numbers = t("review.article_sep").join(str(n) for n in item.articles)
        return t("review.articles", numbers=numbers)
    if item.basis is not None:
        return t(f"review.basis_{item.basis.value}")
    return ""


def status_text(status: str, t: Translator) -> str:
    """A finding's status, with the same words on every page and in every export."""
    return t(f"findings.status_{status}") if status in FINDING_STATUSES else t("review.unknown")


def role_text(role: object, t: Translator) -> str:
    return t(f"review.role_{role}") if role in CHANNEL_ROLES else t("review.unknown")


def plan_params(kind: str, params: Mapping[str, Any], t: Translator) -> list[tuple[str, str]]:
    """A plan's parameters as (label, value) pairs a person reads: the period, the roles,
    the branches ("all"), the window; for a targeted plan its file and digest."""
    out: list[tuple[str, str]] = []
    sep = t("dashboard.list_sep")
    if kind == "random":
        if params.get("period_start"):
            days = params.get("period_days", "?")
            out.append(
                (
                    t("spotcheck.period"),
                    t("spotcheck.period_value", start=params["period_start"], days=days),
                )
            )
        if params.get("count") is not None:
            out.append((t("spotcheck.count"), str(params["count"])))
        roles = params.get("roles") or []
        out.append(
            (t("spotcheck.roles"), sep.join(role_text(r, t) for r in roles) or t("spotcheck.all"))
        )
        branches = params.get("branches")
        out.append(
            (
                t("spotcheck.branches"),
                sep.join(str(b) for b in branches) if branches else t("spotcheck.all"),
            )
        )
        if params.get("window_min") is not None:
            out.append((t("spotcheck.window_min"), t("spotcheck.minutes", n=params["window_min"])))
    elif kind == "targeted":
        if params.get("file"):
            out.append((t("spotcheck.csv_file"), str(params["file"])))
        if params.get("sha256"):
            out.append((t("spotcheck.digest"), str(params["sha256"])[:12]))
    return out
