"""``vidaudit probe`` against the simulated fleet, as a newcomer and as the person who
sends a capture: the summary says what the device supports and what vidaudit concludes;
the capture is redacted and replays, through the fixture tests' own replayer, to the
same conclusions."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.capture_replay import check_capture
from tests.sim_process import sim_process
from vidaudit.capture.layout import MANIFEST
from vidaudit.cli import app
from vidaudit.collector.device_probe import capture, probe_one
from vidaudit.errors import ConfigError
from vidaudit.inventory import load_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.settings import Settings

pytestmark = pytest.mark.timeout(180)
runner = CliRunner()

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CHANNELS = [
    {"role": "counter", "gaps": [{"business_days_ago": 1, "at": "10:00", "minutes": 40}]},
    {"role": "vault", "stopped_days_ago": 2},
]
DEVICES: list[dict[str, Any]] = [
    {"id": "HIK", "vendor": "hikvision"},
    {"id": "DAH", "vendor": "dahua", "clock_drift_s": 300},
    {"id": "UNV", "vendor": "uniview"},
    {"id": "AXIS", "vendor": "axis", "kind": "camera", "posix_tz": "BRT3"},
    {"id": "MS", "vendor": "milesight", "kind": "camera", "time_report": "local_only"},
    {"id": "PROFS", "vendor": "onvif", "kind": "camera", "profile_s_only": True},
    {
        "id": "JOBS",
        "vendor": "onvif",
        "fault": {"kind": "malformed", "operations": ["GetRecordingJobs"]},
    },
    {
        "id": "JOBSTATE",
        "vendor": "onvif",
        "fault": {"kind": "malformed", "operations": ["GetRecordingJobState"]},
    },
    {
        "id": "EVENTS",
        "vendor": "hikvision",
        "fault": {"kind": "http500", "operations": ["FindEvents"]},
    },
    {"id": "BADPW", "vendor": "dahua", "wrong_password": True},
    # read through their vendor APIs only (no onvif: in the inventory)
    {
        "id": "ISAPI",
        "vendor": "hikvision",
        "api": "isapi",
        "vendor_api": {"disks": [{"status": "ok"}, {"status": "error"}]},
    },
    {"id": "DHAPI", "vendor": "dahua", "api": "dahua", "clock_drift_s": -40},
]

#: device id -> the operations its simulated fault breaks on purpose
FAULTY = {d["id"]: tuple(d["fault"]["operations"]) for d in DEVICES if "fault" in d}


def _scenario() -> dict[str, Any]:
    devices = []
    for spec in DEVICES:
        channels = CHANNELS[:1] if spec.get("kind") == "camera" else CHANNELS
        devices.append(
            spec
            | {"channels": [{"id": f"{spec['id']}-C{i + 1}", **c} for i, c in enumerate(channels)]}
        )
    return {
        "seed": 9,
        "branches": [{"id": "PRB", "name": "探测网点", "hours": ALL_DAYS, "devices": devices}],
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("probefleet")
    scenario = tmp / "scenario.yaml"
    scenario.write_text(yaml.safe_dump(_scenario(), allow_unicode=True), encoding="utf-8")
    inventory = tmp / "cameras.sim.yaml"
    outputs = ("--inventory-out", str(inventory), "--truth-out", str(tmp / "truth.json"))
    with sim_process("--scenario", str(scenario), *outputs):
        yield inventory


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAUDIT_SETTINGS_FILE", str(tmp_path / "none.toml"))
    monkeypatch.setenv("VIDAUDIT_COLLECTOR_CALL_TIMEOUT_S", "3")


def _secrets(inventory: Path) -> dict[str, list[str]]:
    """What must never appear in a capture: passwords, user names, serial numbers, the
    devices' address."""
    truth = json.loads((inventory.parent / "truth.json").read_text(encoding="utf-8"))
    env = inventory.with_suffix(".env").read_text(encoding="utf-8")
    passwords = [line.split("=", 1)[1] for line in env.splitlines() if "=" in line]
    devices = truth["devices"].values()
    return {
        "password": passwords,
        "username": sorted({d["username"] for d in devices}),
        "serial": [d["serial"] for d in devices],
        "host": sorted({d["host"] for d in devices}),
    }


def test_summary_says_what_the_nvr_supports_and_what_vidaudit_concludes(fleet: Path) -> None:
    result = runner.invoke(app, ["probe", "HIK", "--config", str(fleet)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "identity: HIKVISION DS-7616NI-K2" in out
    assert "recording search (Profile G): yes; replay: yes" in out
    assert "recordings: 2; recording jobs: 2" in out
    assert "calls made:" in out and "failed: 0" in out
    assert "what vidaudit concludes" in out
    assert re.search(r"HIK-C2 .*stopped.*R6\.not_recording", out), out
    assert re.search(r"HIK-C1 .*R2\.business_hours", out), out
    assert "replay HIK-C1: rtsp://" in out


def test_summary_of_a_recorder_read_through_isapi(fleet: Path) -> None:
    args = ["probe", "ISAPI", "--config", str(fleet)]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "through isapi" in out
    assert "identity: Hikvision DS-7616NI-K2" in out
    assert re.search(r"RTSP port for playback: \d+", out), out
    assert re.search(r"disk \S+: error", out), out
    assert re.search(r"calls made: \d{2,}; failed: 0", out), out
    assert re.search(r"ISAPI-C2 .*R6\.not_recording", out), out
    assert "R6.storage" in out


def test_summary_of_a_recorder_read_through_the_dahua_api(fleet: Path) -> None:
    args = ["probe", "DHAPI", "--config", str(fleet)]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "through dahua" in out
    assert "clock: -40" in out or "clock: -39" in out or "clock: -41" in out, out
    assert re.search(r"DHAPI-C1 .*R2\.business_hours", out), out


def test_summary_says_which_job_state_is_unknown_and_why(fleet: Path) -> None:
    args = ["probe", "JOBSTATE", "--config", str(fleet)]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "recording job " in line]
    assert len(lines) == 2, result.stdout  # one job per channel
    assert all("unknown — GetRecordingJobState malformed: " in line for line in lines), lines
    assert "GetRecordingJobState malformed:" in result.stdout  # listed among failed calls


def test_summary_of_a_device_that_cannot_be_read(fleet: Path) -> None:
    result = runner.invoke(app, ["probe", "BADPW", "--config", str(fleet)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "cannot be read: auth" in result.stdout
    assert "R6.offline" in result.stdout


def test_unknown_device_is_a_usage_error(fleet: Path) -> None:
    result = runner.invoke(app, ["probe", "NOPE", "--config", str(fleet)])
    assert result.exit_code == 2
    assert "no device 'NOPE'" in result.output


@pytest.mark.parametrize("device", [d["id"] for d in DEVICES])
async def test_capture_is_redacted_and_replays_to_the_same_conclusions(
    fleet: Path, tmp_path: Path, device: str
) -> None:
    folder = tmp_path / f"capture-{device}"
    # The CLI runs its own event loop: run it in a thread, away from the test's loop.
    import asyncio

    result = await asyncio.to_thread(
        runner.invoke,
        app,
        ["probe", device, "--config", str(fleet), "--capture", str(folder)],
        env={"COLUMNS": "160"},
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["device"]["model"] or device == "BADPW"
    assert manifest["vidaudit_version"] and manifest["captured_at"]
    written = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    assert len(written) >= 3
    for kind, values in _secrets(fleet).items():
        for value in values:
            # a user name "audit" is a word of its own, not the "audit" in "vidaudit"
            word = re.compile(rb"(?<![\w.-])" + re.escape(value.encode()) + rb"(?![\w-])")
            assert not any(word.search(data) for data in written), (kind, device)
    # Redacted, yet the same conclusions from the replay: the fixture tests' check.
    await check_capture(folder)
    expected = manifest["expected"]
    if device == "JOBS":
        assert expected["device"]["online"] and expected["device"]["unknown"] == ["jobs"]
        assert any(f["operation"] == "GetRecordingJobs" for f in manifest["failed"])
    if device == "JOBSTATE":
        # the collector does not ask job states (RecordingStatus says it): nothing unknown
        # in its conclusions, yet the capture records the failed call, once per job
        assert expected["device"]["online"] and expected["device"]["unknown"] == []
        failed = [f for f in manifest["failed"] if f["operation"] == "GetRecordingJobState"]
        assert failed and all(f["kind"] == "malformed" for f in failed)
    if device == "EVENTS":
        assert all("R2.unverifiable" in c["rules"] for c in expected["channels"].values())
    if device == "BADPW":
        assert expected["device"]["error_kind"] == "auth"
    if device == "PROFS":
        assert expected["device"]["services"] == ["devicemgmt", "media"]
    if device in ("ISAPI", "DHAPI"):
        protocol = "isapi" if device == "ISAPI" else "dahua"
        assert {c["protocol"] for c in manifest["calls"]} == {protocol}
        assert all(c["request"].startswith(f"{protocol}/") for c in manifest["calls"])
        assert expected["device"]["services"] == [protocol]
        assert expected["device"]["storage"], "the disks are part of the conclusions"
        assert "url" in manifest["inventory"]["branches"][0]["devices"][0]
    if device == "ISAPI":
        assert "R6.storage" in expected["device"]["rules"]


async def test_no_nonce_or_digest_survives(fleet: Path) -> None:
    inventory = load_inventory(fleet)
    branch, device = next((b, d) for b, d in inventory.devices() if d.id == "UNV")
    resolver = SecretResolver(inventory, fleet)
    outcome = await probe_one(inventory, branch, device, resolver, Settings().onvif())
    raw = b"".join(e.request for e in outcome.exchanges)
    nonces = re.findall(rb"<wsse:Nonce[^>]*>([^<]+)<", raw)
    digests = re.findall(rb"<wsse:Password[^>]*>([^<]+)<", raw)
    assert nonces and digests
    password = resolver.credentials(device).password.get_secret_value()
    manifest, calls = capture(outcome, inventory, password)
    kept = b"".join(c.request + (c.reply or b"") for c in calls) + json.dumps(manifest).encode()
    for secret in [*nonces, *digests, password.encode()]:
        assert secret not in kept
    assert b"<wsse:Username>user-1</wsse:Username>" in kept  # not the configured name
    assert b"NONCE-1" in kept and b"DIGEST-1" in kept  # replaced, not dropped
    # The same nonce is never sent twice, so each becomes its own placeholder.
    assert kept.count(b"NONCE-") >= len(set(nonces))


def test_capture_refuses_to_overwrite(fleet: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cap"
    folder.mkdir()
    (folder / MANIFEST).write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["probe", "HIK", "--config", str(fleet), "--capture", str(folder)])
    assert result.exit_code == 2
    assert (folder / MANIFEST).read_text(encoding="utf-8") == "{}"


async def test_every_request_vidaudit_sends_validates(fleet: Path) -> None:
    """The requests the collector and the sampler build (zeep from the WSDLs, plus our
    hand-built TopicExpression), as they went over the wire to every simulated device,
    against the ONVIF schemas; the replies too (faults aside)."""
    from lxml import etree

    from vidaudit.onvif import schemas
    from vidaudit.onvif.xmlsafety import check_reply

    inventory = load_inventory(fleet)
    resolver = SecretResolver(inventory, fleet)
    failures: list[str] = []
    operations: set[str] = set()
    for branch, device in inventory.devices():
        outcome = await probe_one(inventory, branch, device, resolver, Settings().onvif())
        for exchange in outcome.exchanges:
            operation = exchange.operation or "?"
            operations.add(operation)
            request = check_reply(exchange.request).payload  # the Body's child
            failures += [
                f"{operation} request ({device.id}): {p}" for p in schemas.problems(request)
            ]
            # a fault injected on purpose (garbled XML) is not an ONVIF reply
            garbled = operation in FAULTY.get(device.id, ())
            if exchange.reply is not None and exchange.status == 200 and not garbled:
                failures += [
                    f"{operation} reply ({device.id}): {p}"
                    for p in schemas.problems_in_reply(exchange.reply)
                ]
    assert not failures, "\n".join(failures)
    assert operations >= {
        *("GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetProfiles"),
        *("FindRecordings", "GetRecordingSearchResults", "EndSearch", "GetRecordingJobs"),
        *("GetRecordingJobState", "FindEvents", "GetEventSearchResults", "GetReplayUri"),
        "GetSnapshotUri",
    }
    # The check can fail: a request without the JobToken the schema requires.
    broken = etree.fromstring(
        b'<tr:GetRecordingJobState xmlns:tr="http://www.onvif.org/ver10/recording/wsdl"/>'
    )
    (problem,) = schemas.problems(broken)
    assert "JobToken" in problem.message


GB_INVENTORY = """
gb28181:
  id: "34020000002000000001"
  domain: "3402000000"
  listen: "127.0.0.1:5060"
  password: ${VIDAUDIT_GB_PASSWORD}
branches:
  - id: FY002
    name: 城南分理处
    hours: {mon: "08:30-17:00"}
    devices:
      - id: FY002-NVR1
        kind: nvr
        vendor: hikvision
        api: gb28181
        gb_id: "34020000001110000001"
        channels:
          - {id: FY002-C01, ref: {gb_id: "34020000001320000001"}, name: 1号柜台, role: counter}
"""


def test_a_gb28181_recorder_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can call a GB/T 28181 recorder (it answers only the platform it registers
    to): the probe says so and where to read it instead, before any secret or network."""
    monkeypatch.delenv("VIDAUDIT_GB_PASSWORD", raising=False)  # not needed to refuse
    path = tmp_path / "site.yaml"
    path.write_text(GB_INVENTORY, encoding="utf-8")
    out = tmp_path / "capture"
    result = runner.invoke(
        app, ["probe", "FY002-NVR1", "--config", str(path), "--capture", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "FY002-NVR1 is a GB/T 28181 recorder (api: gb28181)" in result.output
    assert "vidaudit gb serve" in result.output and "vidaudit collect" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()

    inventory = load_inventory(path)
    branch, device = next(iter(inventory.devices()))
    with pytest.raises(ConfigError, match="GB/T 28181"):
        asyncio.run(
            probe_one(
                inventory, branch, device, SecretResolver(inventory, path), Settings().onvif()
            )
        )
