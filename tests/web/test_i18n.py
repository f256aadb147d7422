"""Both languages complete: same keys, same placeholders, every key used exists."""

from __future__ import annotations

import datetime as dt
import re
import string

import pytest

from tests.conftest import REPO
from tests.web.conftest import WebEnv
from vidaudit.accounts.roles import Permission, PersonRole
from vidaudit.evidence.store import EVIDENCE_PROBLEMS, EVIDENCE_REFERENCES
from vidaudit.review.checkpoints import Outcome
from vidaudit.review.register import PROBLEM_TEXT
from vidaudit.web.i18n import LANGUAGES, Catalogue, fmt_dt, localtime
from vidaudit.web.nav import NAV

LOCALES = REPO / "web" / "locales"
TEMPLATES = REPO / "web" / "templates"
CODE = REPO / "vidaudit" / "web"
#: in templates: t("key") / t('key'), and keys handed over as error_key / message_key
_TEMPLATE_USES = re.compile(r"""(?:\bt\(\s*|_key\s*=\s*)["']([a-z_]+(?:\.[a-z_]+)+)["']""")
_FILE_SUFFIXES = (".html", ".css", ".js", ".json", ".py")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(LOCALES)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_keys_and_placeholders(catalogue: Catalogue) -> None:
    zh, en = (catalogue.messages[lang] for lang in LANGUAGES)
    assert set(zh) - set(en) == set(), "keys only in zh.json"
    assert set(en) - set(zh) == set(), "keys only in en.json"
    for key in zh:
        assert placeholders(zh[key]) == placeholders(en[key]), key
        assert zh[key].strip() and en[key].strip(), f"{key} is empty"


def used_keys(catalogue: Catalogue) -> dict[str, str]:
    """Keys named in templates and in vidaudit/web's code.  In code every string literal
    that starts with a catalogue prefix (``"error."``, ``"login."``, ...) counts, so keys
    passed around as values (``Forbidden("error.csrf")``) are checked too."""
    prefixes = sorted({key.split(".", 1)[0] for key in catalogue.messages["zh"]})
    alternatives = "|".join(prefixes)
    in_code = re.compile(rf"""["']((?:{alternatives})(?:\.[a-z_]+)+)["']""")
    used: dict[str, str] = {}
    for path in [*TEMPLATES.rglob("*.html"), *CODE.rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        pattern = in_code if path.suffix == ".py" else _TEMPLATE_USES
        for key in pattern.findall(text):
            if not key.endswith(_FILE_SUFFIXES):
                used.setdefault(key, str(path.relative_to(REPO)))
    return used


def test_every_key_used_in_templates_and_code_exists(catalogue: Catalogue) -> None:
    used = used_keys(catalogue)
    assert {"login.failed", "nav.logout", "error.csrf"} <= set(used), (
        "the key scan found too little"
    )
    for lang in LANGUAGES:
        missing = {k: where for k, where in used.items() if k not in catalogue.messages[lang]}
        assert not missing, f"{lang}.json lacks {missing}"


def test_keys_built_from_data_exist(catalogue: Catalogue) -> None:
    # Templates build these as "role." ~ user.role etc., which a text scan cannot see.
    needed = (
        {f"role.{r.value}" for r in PersonRole}
        | {f"perm.{p.value}" for p in Permission}
        | {f"nav.{item.key}" for item in NAV}
        | {f"register.problem.{code}" for code in PROBLEM_TEXT}
        | {f"evidence.problem.{code}" for code in EVIDENCE_PROBLEMS}
        | {f"evidence.ref_{what}" for what in EVIDENCE_REFERENCES}
        | {f"report.register_outcome_{outcome}" for outcome in Outcome}
    )
    for lang in LANGUAGES:
        assert needed <= set(catalogue.messages[lang]), needed - set(catalogue.messages[lang])


def test_translate_fills_values_and_survives_mistakes(catalogue: Catalogue) -> None:
    t = catalogue.translator("zh")
    assert t("dashboard.greeting", name="张三") == "您好,张三"
    assert catalogue.translator("en")("login.too_many", seconds=15).endswith("15 seconds.")
    assert t("no.such.key") == "no.such.key"
    assert catalogue.translator("fr")("nav.dashboard") == "总览"  # unknown language -> zh


def test_times_are_shown_in_the_branch_zone() -> None:
    utc = dt.datetime(2026, 11, 20, 1, 30, tzinfo=dt.UTC)
    assert fmt_dt(utc, "Asia/Shanghai") == "2026-11-20 09:30"
    assert fmt_dt(utc, "Asia/Urumqi") == "2026-11-20 07:30 UTC+06:00"
    assert fmt_dt(utc, "Asia/Shanghai", "date") == "2026-11-20"
    assert fmt_dt(None, "Asia/Shanghai") == ""
    assert localtime(utc, "Asia/Shanghai").hour == 9
    assert fmt_dt(utc, "Not/AZone") == "2026-11-20 09:30"  # falls back to Beijing time
    with pytest.raises(ValueError, match="naive"):
        fmt_dt(dt.datetime(2026, 11, 20, 1, 30), "Asia/Shanghai")


def test_language_follows_the_user_with_a_switch_and_an_override(web: WebEnv) -> None:
    with web.client_as("head") as client:
        home = client.get("/")
        assert "您好,张行长" in home.text and "网点负责人" in home.text
        assert "B1 城关支行营业部" in home.text and 'lang="zh-CN"' in home.text
        assert "Hello, 张行长" in client.get("/?lang=en").text  # one page, not a setting
        assert "您好" in client.get("/").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
        assert token
        switched = client.post(
            "/account/language",
            data={"lang": "en", "next": "/?lang=zh", "csrf_token": token.group(1)},
        )
        assert switched.status_code == 303 and switched.headers["location"] == "/"
        english = client.get("/").text
        assert "Hello, 张行长" in english and "Branch head" in english and "Log out" in english
    with web.client() as anonymous:
        assert "Log in to vidaudit" in anonymous.get("/login?lang=en").text
        assert "Log in to vidaudit" in anonymous.get("/login").text  # remembered by cookie
        assert "登录 vidaudit" in anonymous.get("/login?lang=zh").text


def test_navigation_shows_only_what_the_role_may_do(web: WebEnv) -> None:
    with web.client_as("audit") as client:
        page = client.get("/").text
        assert 'href="/register"' in page and 'href="/users"' not in page
        assert 'href="/patrol"' not in page and 'href="/spot-checks"' not in page
    with web.client_as("sec") as client:
        page = client.get("/").text
        assert all(f'href="{item.path}"' in page for item in NAV)
        assert "全部网点" in page
