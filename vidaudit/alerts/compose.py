"""The words of an alert, from the zh/en catalogues (``web/locales/*.alerts.json``), with
a link to the page for every line (the settings' ``base_url``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vidaudit.alerts.due import Due
from vidaudit.notify.config import NotifySettings
from vidaudit.notify.message import Line, Message

#: ``texts(lang)("alerts.title.device_offline", n=3)``: the web catalogue's translators
Texts = Callable[[str], Callable[..., str]]

#: lines in one message; beyond them one line says how many more, linking to the list
MAX_LINES = 10
#: where "and N more" points, per event
LIST_PAGES = {
    "device_offline": "/tickets?rule=R6.offline",
    "disk_failed": "/tickets?rule=R6.storage",
    "ticket_escalated": "/tickets?overdue=1",
    "approval_waiting": "/approvals",
    "rectification_overdue": "/findings?status=active&overdue=1",
    "daily_check_missing": "/duties",
    "weekly_report": "/reports",
}


def compose(
    texts: Texts,
    notify: NotifySettings,
    language: str,
    event: str,
    items: Sequence[Due],
    times: dict[str, int],
) -> Message:
    """One message about ``items`` (all of one event); ``times`` says which alert this is
    for each item's key (2 and more: a reminder)."""
    t = texts(language)
    lines = []
    for item in items[:MAX_LINES]:
        values = {**item.values, **{k: t(v) for k, v in item.terms.items()}}
        text = t(item.text_key, **values)
        if times.get(item.key, 1) > 1:
            text += t("alerts.reminder", n=times[item.key])
        lines.append(Line(text, notify.link(item.path), dict(item.about)))
    if len(items) > MAX_LINES:
        lines.append(
            Line(t("alerts.more", n=len(items) - MAX_LINES), notify.link(LIST_PAGES[event]))
        )
    return Message(
        event=event,
        title=t(f"alerts.title.{event}", n=len(items)),
        lines=tuple(lines),
        language=language,
        link_label=t("alerts.open"),
    )
