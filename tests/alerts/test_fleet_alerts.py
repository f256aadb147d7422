"""Done when: an offline device in the simulated fleet produces a WeCom-format webhook
call, a DingTalk-signed call and e-mails on loopback within one `vidaudit collect`, and
no duplicate on the next run.  Everything is real: the simulator in its own process, the
CLI, an HTTP receiver standing in for both robots, aiosmtpd with STARTTLS and AUTH."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from tests.conftest import REPO
from tests.notify.receivers import HttpReceiver, MailReceiver, dingtalk_signature_ok
from vidaudit.cli import app

runner = CliRunner()
WECOM_KEY = "wecom-key-3f9e1c"
DING_TOKEN = "ding-token-77ab"
DING_SECRET = "SECa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
SCENARIO = """
seed: 3
branches:
  - id: AL01
    name: 城关支行营业部
    hours: {mon: "08:30-17:00", tue: "08:30-17:00", wed: "08:30-17:00",
            thu: "08:30-17:00", fri: "08:30-17:00", sat: closed, sun: closed}
    devices:
      - id: AL01-NVR1
        channels:
          - {id: AL01-C01, name: 1号柜台, role: counter}
      - id: AL01-NVR2
        offline: true
        channels:
          - {id: AL01-C02, name: 金库, role: vault}
"""


@contextlib.contextmanager
def simulated(tmp_path: Path, scenario: str) -> Iterator[Path]:
    """The simulator in its own process playing ``scenario``; yields its inventory."""
    (tmp_path / "scenario.yaml").write_text(scenario, encoding="utf-8")
    inventory = tmp_path / "cameras.sim.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vidaudit.sim",
            "--scenario",
            str(tmp_path / "scenario.yaml"),
            "--inventory-out",
            str(inventory),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the fleet listens (or the sim dies)
    assert "ready" in line, line
    try:
        yield inventory
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Path]:
    with simulated(tmp_path, SCENARIO) as inventory:
        yield inventory


def settings_file(path: Path, smtp: MailReceiver) -> None:
    path.write_text(
        f"""
[notify]
base_url = "https://vidaudit.bank.example"
# only the immediate alerts in this test: the daily and weekly ones depend on the hour
rules.daily_check_missing = {{ enabled = false }}
rules.weekly_report = {{ enabled = false }}

[notify.channels.security-group]
kind = "wecom"
webhook = "${{T_WECOM_URL}}"
reaches = [{{ role = "security" }}]

[notify.channels.al01-group]
kind = "dingtalk"
webhook = "${{T_DING_URL}}"
secret = "${{T_DING_SECRET}}"
reaches = [{{ role = "administrator", branches = ["AL01"] }},
           {{ role = "branch_head", branches = ["AL01"] }}]

[notify.channels.mail]
kind = "email"
host = "127.0.0.1"
port = {smtp.port}
username = "{smtp.username}"
password = "${{T_SMTP_PW}}"
sender = "vidaudit@bank.example"
tls_ca_file = "{smtp.cert}"
reaches = [{{ role = "security" }}, {{ role = "administrator" }}]
""",
        encoding="utf-8",
    )


def invoke(*args: str, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.timeout(180)
def test_offline_device_reaches_wecom_dingtalk_and_mail_once(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with HttpReceiver() as http, MailReceiver(tmp_path) as smtp:
        settings_file(tmp_path / "vidaudit.toml", smtp)
        monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "vidaudit.toml"))
        monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("VIDAUDIT_INVENTORY", str(fleet))
        monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "2")
        monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
        monkeypatch.setenv("T_WECOM_URL", http.url(f"/cgi-bin/webhook/send?key={WECOM_KEY}"))
        monkeypatch.setenv("T_DING_URL", http.url(f"/robot/send?access_token={DING_TOKEN}"))
        monkeypatch.setenv("T_DING_SECRET", DING_SECRET)
        monkeypatch.setenv("T_SMTP_PW", smtp.password)

        invoke("db", "upgrade")
        invoke("inventory", "sync", str(fleet))
        password = "a long enough password\n"
        invoke(
            "user",
            "add",
            "wang",
            "--role",
            "security",
            "--name",
            "王科长",
            "--email",
            "wang@bank.example",
            "--password-stdin",
            stdin=password,
        )
        invoke(
            "user",
            "add",
            "zhao",
            "--role",
            "administrator",
            "--branch",
            "AL01",
            "--email",
            "zhao@bank.example",
            "--locale",
            "en",
            "--password-stdin",
            stdin=password,
        )
        # a head of the branch without an address: the group reaches her, mail does not
        invoke(
            "user",
            "add",
            "zhang",
            "--role",
            "branch_head",
            "--branch",
            "AL01",
            "--password-stdin",
            stdin=password,
        )
        out = invoke("notify", "check")
        assert "security-group" in out and WECOM_KEY not in out and DING_SECRET not in out

        first = runner.invoke(app, ["collect", "--config", str(fleet), "--format", "json"])
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["tickets"]["opened"] >= 1

        # all of it arrived by the time the command returned: one collection
        (wecom,) = http.on("/cgi-bin/webhook/send")
        assert wecom.query["key"] == [WECOM_KEY]
        content = wecom.json()["markdown"]["content"]
        assert wecom.json()["msgtype"] == "markdown"
        assert "设备离线 1 台" in content and "AL01-NVR2" in content
        assert "城关支行营业部" in content
        assert "https://vidaudit.bank.example/tickets/" in content

        (ding,) = http.on("/robot/send")
        assert dingtalk_signature_ok(ding, DING_SECRET)
        assert "AL01-NVR2" in ding.json()["markdown"]["text"]

        mails = {m.rcpt_tos[0]: m for m in smtp.wait_for(2)}
        assert set(mails) == {"wang@bank.example", "zhao@bank.example"}
        assert mails["wang@bank.example"].message["Subject"] == "【视频监控告警】设备离线 1 台"
        english = mails["zhao@bank.example"].message  # the administrator reads English
        assert english["Subject"] == "[vidaudit alert] 1 device(s) offline"
        assert "AL01-NVR2 offline" in english.get_content()
        assert all(m.login == smtp.username for m in mails.values())

        # the next run sees the device still offline: no second alert
        second = runner.invoke(app, ["collect", "--config", str(fleet), "--format", "json"])
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["tickets"]["updated"] >= 1
        assert len(http.requests) == 2
        assert len(smtp.mails) == 2

        # sent and recorded; no secret went into the database
        engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'vidaudit.db'}")
        with engine.connect() as conn:
            states = conn.execute(text("SELECT state, count(*) FROM alert_outbox GROUP BY state"))
            assert dict(states.all()) == {"sent": 4}
        engine.dispose()
        # the database's own bytes, WAL included: no secret is stored anywhere in it
        dump = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("vidaudit.db*"))
        for secret in (WECOM_KEY, DING_TOKEN, DING_SECRET, smtp.password):
            assert secret.encode() not in dump
        status = invoke("notify", "status")
        assert "sent" in status and WECOM_KEY not in status


#: Recorders read through their vendor APIs (issue 14): one ISAPI and one Dahua recorder
#: down, one of each with a disk it cannot record on (Hikvision: a disk in error beside a
#: good one; Dahua: no disk at all), and a healthy ISAPI recorder.
VENDOR_SCENARIO = """
seed: 5
branches:
  - id: VA01
    name: 城东支行
    hours: {mon: "08:30-17:00", tue: "08:30-17:00", wed: "08:30-17:00",
            thu: "08:30-17:00", fri: "08:30-17:00", sat: closed, sun: closed}
    devices:
      - {id: VA01-HIK, vendor: hikvision, api: isapi, channels: 1}
      - {id: VA01-HIKOFF, vendor: hikvision, api: isapi, offline: true, channels: 1}
      - {id: VA01-DAHOFF, vendor: dahua, api: dahua, offline: true, channels: 1}
      - id: VA01-HIKDISK
        vendor: hikvision
        api: isapi
        vendor_api: {disks: [{status: ok}, {status: error}]}
        channels: 1
      - {id: VA01-DAHDISK, vendor: dahua, api: dahua, vendor_api: {disks: []}, channels: 1}
"""


@pytest.mark.timeout(180)
def test_vendor_api_recorders_raise_offline_and_disk_alerts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alerts come from the tickets the shared collector path opens, whatever API a
    device is read through: ISAPI and Dahua recorders that are down or cannot record
    reach a webhook as device_offline and disk_failed, naming exactly those devices."""
    with simulated(tmp_path, VENDOR_SCENARIO) as inventory, HttpReceiver() as http:
        (tmp_path / "vidaudit.toml").write_text(
            f"""
[notify]
base_url = "https://vidaudit.bank.example"
rules.daily_check_missing = {{ enabled = false }}
rules.weekly_report = {{ enabled = false }}

[notify.channels.ops]
kind = "webhook"
url = "{http.url("/ops")}"
reaches = [{{ role = "security" }}]
""",
            encoding="utf-8",
        )
        monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "vidaudit.toml"))
        monkeypatch.setenv("VIDAUDIT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("VIDAUDIT_INVENTORY", str(inventory))
        monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "2")
        monkeypatch.delenv("VIDAUDIT_DATABASE_URL", raising=False)
        invoke("db", "upgrade")
        invoke("inventory", "sync", str(inventory))
        invoke(
            "user",
            "add",
            "wang",
            "--role",
            "security",
            "--password-stdin",
            stdin="a long enough password\n",
        )

        result = runner.invoke(app, ["collect", "--config", str(inventory), "--format", "json"])
        assert result.exit_code == 0, result.output
        # the devices really were read through their vendor APIs, and judged by them
        rules = {
            d["id"]: {v["rule"] for v in d["violations"]}
            for d in json.loads(result.stdout)["devices"]
        }
        assert "R6.offline" in rules["VA01-HIKOFF"] and "R6.offline" in rules["VA01-DAHOFF"]
        assert "R6.storage" in rules["VA01-HIKDISK"] and "R6.storage" in rules["VA01-DAHDISK"]

        by_event = {d["event"]: d for d in (r.json() for r in http.on("/ops"))}
        assert set(by_event) == {"device_offline", "disk_failed"}

        def subjects(event: str) -> set[str]:
            return {item["subject"] for item in by_event[event]["items"]}

        assert subjects("device_offline") == {"device:VA01-HIKOFF", "device:VA01-DAHOFF"}
        assert subjects("disk_failed") == {"device:VA01-HIKDISK", "device:VA01-DAHDISK"}
        assert {i["rule"] for i in by_event["disk_failed"]["items"]} == {"R6.storage"}
        assert by_event["disk_failed"]["title"] == "【视频监控告警】硬盘故障 2 处"
        assert by_event["device_offline"]["title"] == "【视频监控告警】设备离线 2 台"
