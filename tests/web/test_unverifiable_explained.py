"""A fact left unknown by a failed device call reaches the channel page, in Chinese and
English: which rule cannot be judged, which call failed, how (the error kind, translated),
and the failure's own words.  Collected for real from simulated NVRs whose optional calls
break, stored, then read back through the web app."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.test_collect_sim import collect_fleet
from tests.web.conftest import PASSWORD, WebEnv
from vidaudit.accounts.users import create_user
from vidaudit.collector.run import CollectResult
from vidaudit.db.engine import make_engine, make_sessionmaker
from vidaudit.sim import parse_scenario
from vidaudit.web.i18n import Catalogue
from vidaudit.web.views.dashboard_detail import explain

pytestmark = pytest.mark.timeout(120)

ALL_DAYS = {d: "08:30-17:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
#: device -> the optional calls its fault breaks (garbled XML): FindEvents leaves the gaps
#: unknown (R2); GetProfiles and GetRecordingJobs together leave a channel matched by
#: profile token without its recording (R6).
BROKEN = {"EVENTS": ["FindEvents"], "NOMATCH": ["GetProfiles", "GetRecordingJobs"]}
CATALOGUE = Catalogue.load(Path(__file__).resolve().parents[2] / "web" / "locales")


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebEnv, CollectResult]]:
    scenario = parse_scenario(
        {
            "seed": 5,
            "branches": [
                {
                    "id": "UNK",
                    "name": "未知网点",
                    "hours": ALL_DAYS,
                    "devices": [
                        {
                            "id": device,
                            "vendor": "onvif",  # channels matched by profile token
                            "fault": {"kind": "malformed", "operations": operations},
                            "channels": [{"id": f"{device}-C1", "role": "counter"}],
                        }
                        for device, operations in BROKEN.items()
                    ],
                }
            ],
        }
    )
    result, _truth, settings = asyncio.run(
        collect_fleet(scenario, tmp_path_factory.mktemp("unknown"))
    )
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    env = WebEnv(settings=settings, engine=engine, sessions=sessions)
    with sessions.begin() as db:
        create_user(
            db,
            username="sec",
            password=PASSWORD,
            role="security",
            branch_id=None,
            display_name="保卫部王科长",
            now=env.now,
        )
    yield env, result
    engine.dispose()


def _violation(result: CollectResult, channel_id: str, rule: str) -> dict[str, object]:
    channel = next(c for c in result.report.channels if c.channel_id == channel_id)
    violation = next(v for v in channel.result.violations if v.rule == rule)
    return {"rule": violation.rule, "evidence": violation.evidence}


@pytest.mark.parametrize(
    ("channel_id", "rule", "call", "zh_says", "en_says"),
    [
        (
            "EVENTS-C1",
            "R2.unverifiable",
            "FindEvents",
            "录像缺口、无录像营业日和营业时段覆盖均无法确认",
            "gaps, days without footage and business-hours coverage cannot be established",
        ),
        (
            "NOMATCH-C1",
            "R6.unverifiable",
            "GetProfiles",
            "无法确认该通道对应哪路录像",
            "which recording is this channel's cannot be established",
        ),
    ],
)
def test_channel_page_says_which_call_failed_and_why(
    collected: tuple[WebEnv, CollectResult],
    channel_id: str,
    rule: str,
    call: str,
    zh_says: str,
    en_says: str,
) -> None:
    env, result = collected
    stored = _violation(result, channel_id, rule)
    evidence = stored["evidence"]
    assert isinstance(evidence, dict) and evidence["call"] == call
    message = str(evidence["message"])
    assert message  # the reader's own words about the garbled reply
    with env.client_as("sec") as client:
        zh = html.unescape(client.get(f"/channels/{channel_id}").text)
        en = html.unescape(client.get(f"/channels/{channel_id}?lang=en").text)
    assert f"设备的 {call} 调用失败(设备应答异常)" in zh and zh_says in zh
    assert f"详情:{message}" in zh
    assert f"the device's {call} call failed (" in en and en_says in en
    assert f"details: {message}" in en
    # the collector's English sentence is not what the Chinese page shows
    assert "cannot be identified" not in zh and "cannot be established:" not in zh


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_two_r6_unverifiable_facts_read_differently(lang: str) -> None:
    t = CATALOGUE.translator(lang)
    base = {"call": "GetRecordingJobState", "error_kind": "device_fault", "message": "HTTP 500"}
    which = explain({"rule": "R6.unverifiable", "evidence": base | {"fact": "recording"}}, t)
    now = explain({"rule": "R6.unverifiable", "evidence": base | {"fact": "recording_state"}}, t)
    assert which.text != now.text
    for said in (which, now):
        assert "GetRecordingJobState" in said.text and "{" not in said.text
        assert t("dashboard.error_kind.device_fault") in said.text
        assert said.detail == t("dashboard.rule_detail", detail="HTTP 500")
