"""Each channel delivers to a real receiver on loopback, and every way it can fail
becomes a kind and a retry decision, without the URL's key or a password in the text."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import ClientSession
from pydantic import ValidationError

from tests.notify.receivers import HttpReceiver, MailReceiver, dingtalk_signature_ok
from vidaudit.errors import ConfigError
from vidaudit.notify.config import NotifySettings
from vidaudit.notify.errors import SendError
from vidaudit.notify.message import Line, Message
from vidaudit.notify.robots import WECOM_MARKDOWN_BYTES, dingtalk_sign
from vidaudit.notify.send import send

KEY = "0a1b2c3d-wecom-key-5e6f"
DING_TOKEN = "d1ngt0ken77"
DING_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
MESSAGE = Message(
    event="device_offline",
    title="【视频监控】设备离线 1 台",
    lines=(
        Line(
            "城关支行营业部 FY001-NVR1 离线(连接超时),自 10:32 起",
            "https://vidaudit.bank.example/tickets/7",
            {"key": "ticket:7", "branch": "FY001", "subject": "device:FY001-NVR1"},
        ),
    ),
)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest_asyncio.fixture
async def client() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def channels(http: HttpReceiver, **extra: object) -> NotifySettings:
    return NotifySettings.model_validate(
        {
            "base_url": "https://vidaudit.bank.example",
            "channels": {
                "wecom": {
                    "kind": "wecom",
                    "webhook": "${T_WECOM}",
                    "reaches": [{"role": "security"}],
                },
                "ding": {
                    "kind": "dingtalk",
                    "webhook": "${T_DING}",
                    "secret": "${T_DING_SECRET}",
                    "reaches": [{"role": "administrator"}],
                    "timeout_s": 1,
                },
                "ops": {
                    "kind": "webhook",
                    "url": http.url("/ops"),
                    "token": "${T_OPS_TOKEN}",
                    "reaches": [{"role": "security"}],
                },
                **extra,
            },
        }
    )


@pytest.fixture
def env(http: HttpReceiver) -> dict[str, str]:
    return {
        "T_WECOM": http.url(f"/cgi-bin/webhook/send?key={KEY}"),
        "T_DING": http.url(f"/robot/send?access_token={DING_TOKEN}"),
        "T_DING_SECRET": DING_SECRET,
        "T_OPS_TOKEN": "ops-token-42",
    }


async def test_wecom_gets_markdown_under_its_size_limit(
    http: HttpReceiver, client: ClientSession, env: dict[str, str]
) -> None:
    settings = channels(http)
    await send(client, settings.channels["wecom"], MESSAGE, environ=env)
    (request,) = http.on("/cgi-bin/webhook/send")
    assert request.query["key"] == [KEY]
    body = request.json()
    assert body["msgtype"] == "markdown"
    assert "设备离线" in body["markdown"]["content"]
    assert "[查看](https://vidaudit.bank.example/tickets/7)" in body["markdown"]["content"]
    # a hundred long lines are cut to WeCom's 4096 bytes, saying how many were left out
    many = Message("device_offline", "x", tuple(Line("网点设备离线 " * 20) for _ in range(100)))
    await send(client, settings.channels["wecom"], many, environ=env)
    content = http.on("/cgi-bin/webhook/send")[1].json()["markdown"]["content"]
    assert len(content.encode()) <= WECOM_MARKDOWN_BYTES
    assert content.rstrip().endswith(")") and "… (+" in content


async def test_dingtalk_call_is_signed_as_dingtalk_checks_it(
    http: HttpReceiver, client: ClientSession, env: dict[str, str]
) -> None:
    await send(client, channels(http).channels["ding"], MESSAGE, environ=env)
    (request,) = http.on("/robot/send")
    assert request.query["access_token"] == [DING_TOKEN]
    assert dingtalk_signature_ok(request, DING_SECRET)
    assert not dingtalk_signature_ok(request, DING_SECRET + "x")  # the check can fail
    body = request.json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == MESSAGE.title
    assert "FY001-NVR1" in body["markdown"]["text"]


def test_dingtalk_sign_matches_openssl_for_a_fixed_timestamp() -> None:
    from tests.notify.receivers import openssl_hmac_base64

    ts = 1546084445901
    assert dingtalk_sign("this is secret", ts) == openssl_hmac_base64(
        "this is secret", f"{ts}\nthis is secret"
    )


async def test_webhook_gets_the_message_as_json_with_its_token(
    http: HttpReceiver, client: ClientSession, env: dict[str, str]
) -> None:
    await send(client, channels(http).channels["ops"], MESSAGE, environ=env)
    (request,) = http.on("/ops")
    assert request.headers["authorization"] == "Bearer ops-token-42"
    document = request.json()
    assert document["event"] == "device_offline"
    assert document["items"] == [
        {
            "text": MESSAGE.lines[0].text,
            "link": "https://vidaudit.bank.example/tickets/7",
            "key": "ticket:7",
            "branch": "FY001",
            "subject": "device:FY001-NVR1",
        }
    ]


@pytest.mark.parametrize(
    ("reply", "kind", "retry"),
    [
        ((500, {"error": "boom"}), "device_fault", True),
        ((429, {}), "device_fault", True),
        ((403, {}), "auth", False),
        ((302, {}), "unsupported", False),  # a redirect is not followed
        ((200, {"errcode": 130101, "errmsg": "send too fast"}), "device_fault", True),
        ((200, {"errcode": 310000, "errmsg": "sign not match"}), "auth", False),
        ((200, {"errcode": 400013, "errmsg": "group dismissed"}), "unsupported", False),
        ((200, b"<html>proxy error</html>"), "malformed", True),
    ],
)
async def test_refusals_are_sorted_into_kinds(
    http: HttpReceiver,
    client: ClientSession,
    env: dict[str, str],
    reply: tuple[int, object],
    kind: str,
    retry: bool,
) -> None:
    http.replies.append(reply)
    with pytest.raises(SendError) as info:
        await send(client, channels(http).channels["ding"], MESSAGE, environ=env)
    assert (info.value.kind, info.value.retry) == (kind, retry)
    assert DING_TOKEN not in str(info.value) and DING_SECRET not in str(info.value)


async def test_slow_and_absent_receivers(
    http: HttpReceiver, client: ClientSession, env: dict[str, str]
) -> None:
    http.delay_s = 2.0  # the DingTalk channel waits 1 s
    with pytest.raises(SendError) as info:
        await send(client, channels(http).channels["ding"], MESSAGE, environ=env)
    assert (info.value.kind, info.value.retry) == ("timeout", True)
    closed = {**env, "T_WECOM": f"http://127.0.0.1:9/cgi-bin/webhook/send?key={KEY}"}
    with pytest.raises(SendError) as info:
        await send(client, channels(http).channels["wecom"], MESSAGE, environ=closed)
    assert (info.value.kind, info.value.retry) == ("unreachable", True)
    assert KEY not in str(info.value)


async def test_a_missing_secret_is_a_config_error(
    http: HttpReceiver, client: ClientSession
) -> None:
    with pytest.raises(ConfigError, match="T_WECOM is not set"):
        await send(client, channels(http).channels["wecom"], MESSAGE, environ={})
    assert http.requests == []


# --- e-mail ---------------------------------------------------------------------------


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[MailReceiver]:
    with MailReceiver(tmp_path) as receiver:
        yield receiver


def mail_channel(http: HttpReceiver, smtp: MailReceiver, **over: object) -> NotifySettings:
    return channels(
        http,
        mail={
            "kind": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": smtp.username,
            "password": "${T_SMTP_PW}",
            "sender": "vidaudit@bank.example",
            "tls_ca_file": str(smtp.cert),
            "reaches": [{"role": "security"}],
            "timeout_s": 5,
            **over,
        },
    )


async def test_email_over_starttls_with_login(
    http: HttpReceiver, smtp: MailReceiver, client: ClientSession
) -> None:
    settings = mail_channel(http, smtp)
    env = {"T_SMTP_PW": smtp.password}
    await send(client, settings.channels["mail"], MESSAGE, "wang@bank.example", env)
    (mail,) = smtp.wait_for(1)
    assert mail.login == "vidaudit"  # AUTH happened, after STARTTLS (the server insists)
    assert (mail.mail_from, mail.rcpt_tos) == ("vidaudit@bank.example", ["wang@bank.example"])
    assert mail.message["Subject"] == MESSAGE.title  # RFC 2047 decoded by the parser
    body = mail.message.get_content()
    assert "FY001-NVR1" in body and "https://vidaudit.bank.example/tickets/7" in body


async def test_email_failures(
    http: HttpReceiver, smtp: MailReceiver, client: ClientSession
) -> None:
    settings = mail_channel(http, smtp)
    with pytest.raises(SendError) as info:
        await send(
            client,
            settings.channels["mail"],
            MESSAGE,
            "w@bank.example",
            {"T_SMTP_PW": "wrong-password"},
        )
    assert (info.value.kind, info.value.retry) == ("auth", False)
    assert "wrong-password" not in str(info.value)
    # the server's certificate is checked: without the bank's CA it is not trusted
    untrusted = mail_channel(http, smtp, tls_ca_file=None)
    with pytest.raises(SendError) as info:
        await send(
            client,
            untrusted.channels["mail"],
            MESSAGE,
            "w@bank.example",
            {"T_SMTP_PW": smtp.password},
        )
    assert (info.value.kind, info.value.retry) == ("auth", False)
    assert smtp.mails == []


def test_settings_refuse_secrets_and_clear_logins() -> None:
    base = {"base_url": "https://v.example", "channels": {}}
    bad_channels = [
        {
            "kind": "wecom",
            "webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
            "reaches": [{"role": "security"}],
        },
        {
            "kind": "email",
            "host": "mail",
            "sender": "a@b",
            "username": "u",
            "password": "${P}",
            "security": "none",
            "reaches": [{"role": "security"}],
        },
        {
            "kind": "email",
            "host": "mail",
            "sender": "a@b",
            "password": "plain",
            "username": "u",
            "reaches": [{"role": "security"}],
        },
        {"kind": "sms", "reaches": [{"role": "security"}]},
        {"kind": "wecom", "webhook": "${W}", "reaches": [{"role": "janitor"}]},
        {"kind": "wecom", "webhook": "${W}", "reaches": [{"role": "security"}], "colour": 1},
    ]
    for channel in bad_channels:
        with pytest.raises(ValidationError):
            NotifySettings.model_validate({**base, "channels": {"c": channel}})
    with pytest.raises(ValidationError, match="base_url is required"):
        NotifySettings.model_validate(
            {
                "channels": {
                    "c": {"kind": "wecom", "webhook": "${W}", "reaches": [{"role": "security"}]}
                }
            }
        )
    with pytest.raises(ValidationError):
        NotifySettings.model_validate({"rules": {"coffee_low": {"enabled": True}}})
    ok = NotifySettings.model_validate({"rules": {"weekly_report": {"enabled": False}}})
    assert ok.recipients("weekly_report") is None
    assert ok.recipients("device_offline") == {"administrator", "security"}
