"""cameras.yaml: the example is valid, and each kind of mistake is reported precisely."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from vidaudit.inventory import InventoryError, check_secrets, load_inventory, parse_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import ChannelRole

EXAMPLE = REPO / "cameras.yaml"


def minimal() -> dict[str, object]:
    return {
        "timezone": "Asia/Shanghai",
        "branches": [
            {
                "id": "B1",
                "name": "城关支行",
                "hours": {"mon": "08:30-17:00", "tue": "08:30-17:00", "sun": "closed"},
                "devices": [
                    {
                        "id": "B1-NVR",
                        "kind": "nvr",
                        "vendor": "hikvision",
                        "onvif": "http://127.0.0.1:8000/onvif/device_service",
                        "username": "audit",
                        "password": "${VIDAUDIT_PW_B1}",
                        "channels": [
                            {
                                "id": "B1-C1",
                                "name": "柜台",
                                "role": "counter",
                                "ref": {"channel": 1},
                            },
                            {"id": "B1-C2", "name": "金库", "role": "vault", "ref": {"channel": 2}},
                        ],
                    }
                ],
            }
        ],
    }


def errors_for(data: object) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(data, allow_unicode=True), "site.yaml")
    assert info.value.file == "site.yaml"
    return [str(problem) for problem in info.value.problems]


def test_example_inventory_is_valid_and_realistic() -> None:
    inventory = load_inventory(EXAMPLE)
    assert len(inventory.branches) >= 3
    roles = {channel.role for _b, _d, channel in inventory.channels()}
    assert {ChannelRole.COUNTER, ChannelRole.VAULT, ChannelRole.ATM, ChannelRole.ENTRANCE} <= roles
    assert any(not branch.name.isascii() for branch in inventory.branches)


def test_minimal_inventory_defaults() -> None:
    inventory = parse_inventory(yaml.safe_dump(minimal()))
    assert inventory.policy.retention_days == 30
    assert inventory.policy.max_clock_drift_s == 60
    branch = inventory.branches[0]
    monday = dt.date(2026, 11, 16)
    hours = branch.hours_on(monday)
    assert hours is not None and hours.open == dt.time(8, 30) and hours.close == dt.time(17)
    assert branch.hours_on(monday + dt.timedelta(days=6)) is None  # Sunday closed
    assert branch.hours_on(monday + dt.timedelta(days=2)) is None  # Wednesday left out


def test_required_days_channel_then_role_then_policy() -> None:
    data = minimal()
    data["policy"] = {"retention_days": 30, "retention_days_by_role": {"vault": 90}}
    device = data["branches"][0]["devices"][0]  # type: ignore[index]
    device["channels"].append(
        {"id": "B1-C3", "name": "ATM", "role": "atm", "ref": {"channel": 3}, "retention_days": 180}
    )
    inventory = parse_inventory(yaml.safe_dump(data))
    required = {c.id: inventory.required_days(c) for _b, _d, c in inventory.channels()}
    assert required == {"B1-C1": 30, "B1-C2": 90, "B1-C3": 180}


def test_holidays_and_swapped_working_days() -> None:
    data = minimal()
    branch = data["branches"][0]  # type: ignore[index]
    branch["closed_dates"] = ["2026-11-16"]
    branch["special_days"] = {"2026-11-22": "09:00-12:00"}  # a Sunday worked (调休)
    inventory = parse_inventory(yaml.safe_dump(data))
    b = inventory.branches[0]
    assert b.hours_on(dt.date(2026, 11, 16)) is None
    special = b.hours_on(dt.date(2026, 11, 22))
    assert special is not None and str(special) == "09:00-12:00"


def test_unknown_key_names_its_path() -> None:
    data = minimal()
    data["branches"][0]["devices"][0]["channels"][1]["rolle"] = "vault"  # type: ignore[index]
    assert errors_for(data) == [
        "branches[0].devices[0].channels[1].rolle: unknown key "
        "(check the spelling; see the example cameras.yaml)"
    ]


def test_bad_role_names_path_and_choices() -> None:
    data = minimal()
    data["branches"][0]["devices"][0]["channels"][1]["role"] = "safe"  # type: ignore[index]
    (message,) = errors_for(data)
    assert message.startswith("branches[0].devices[0].channels[1].role: ")
    assert "'counter'" in message and "'vault'" in message and "(got 'safe')" in message


def test_duplicate_ids_are_refused_with_both_places() -> None:
    data = minimal()
    channels = data["branches"][0]["devices"][0]["channels"]  # type: ignore[index]
    channels[1]["id"] = "B1-C1"
    assert errors_for(data) == [
        "branches[0].devices[0].channels[1].id: duplicate channel id 'B1-C1', "
        "first used at branches[0].devices[0].channels[0].id"
    ]


def test_duplicate_device_across_branches() -> None:
    data = minimal()
    other = yaml.safe_load(yaml.safe_dump(data["branches"][0]))  # type: ignore[index]
    other["id"] = "B2"
    for c in other["devices"][0]["channels"]:
        c["id"] = c["id"].replace("B1", "B2")
    data["branches"].append(other)  # type: ignore[attr-defined]
    assert errors_for(data) == [
        "branches[1].devices[0].id: duplicate device id 'B1-NVR', first used at "
        "branches[0].devices[0].id"
    ]


def test_bad_time_zone() -> None:
    data = minimal()
    data["branches"][0]["timezone"] = "Asia/Peking"  # type: ignore[index]
    assert errors_for(data) == [
        "branches[0].timezone: unknown IANA time zone 'Asia/Peking' (e.g. 'Asia/Shanghai')"
    ]


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ("17:00-08:30", "closing time must be after opening time in '17:00-08:30'"),
        ("8.30 to 17", "expected 'HH:MM-HH:MM' or 'closed', got '8.30 to 17'"),
        ("08:30-25:00", "hours out of range in '08:30-25:00'"),
    ],
)
def test_bad_hours(hours: str, expected: str) -> None:
    data = minimal()
    data["branches"][0]["hours"]["mon"] = hours  # type: ignore[index]
    assert errors_for(data) == [f"branches[0].hours.mon: {expected}"]


def test_literal_password_is_refused_and_not_echoed() -> None:
    data = minimal()
    data["branches"][0]["devices"][0]["password"] = "Hik12345!"  # type: ignore[index]
    (message,) = errors_for(data)
    assert message.startswith("branches[0].devices[0].password: a literal password is not allowed")
    assert "${VIDAUDIT_PW_FY001}" in message
    assert "Hik12345!" not in message


def test_missing_env_reference_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(minimal(), allow_unicode=True), encoding="utf-8")
    inventory = load_inventory(path)
    problems = [str(p) for p in check_secrets(inventory, path, environ={})]
    assert problems == [
        "branches[0].devices[0].password: environment variable VIDAUDIT_PW_B1 is not set "
        "(not in the environment)"
    ]
    assert check_secrets(inventory, path, environ={"VIDAUDIT_PW_B1": "s3cret"}) == []


def test_env_file_resolves_and_environment_wins(tmp_path: Path) -> None:
    data = minimal()
    data["env_file"] = "site.env"
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "site.env").write_text("# demo\nVIDAUDIT_PW_B1='from-file'\n", encoding="utf-8")
    inventory = load_inventory(path)
    device = inventory.branches[0].devices[0]
    from_file = SecretResolver(inventory, path, environ={}).credentials(device)
    assert from_file.password.get_secret_value() == "from-file"
    assert "from-file" not in repr(from_file)
    env = SecretResolver(inventory, path, environ={"VIDAUDIT_PW_B1": "env"}).credentials(device)
    assert env.password.get_secret_value() == "env"


def test_password_and_password_file_are_exclusive() -> None:
    data = minimal()
    data["branches"][0]["devices"][0]["password_file"] = "/run/secrets/x"  # type: ignore[index]
    assert errors_for(data) == [
        "branches[0].devices[0]: give exactly one of password (an ${ENV} reference) "
        "or password_file"
    ]


def test_several_problems_reported_together() -> None:
    data = minimal()
    data["timezone"] = "Mars/Olympus"
    data["branches"][0]["devices"][0]["kind"] = "dvr"  # type: ignore[index]
    messages = errors_for(data)
    assert [m.split(":")[0] for m in messages] == ["timezone", "branches[0].devices[0].kind"]


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"site.yaml: line \d+, column \d+: not valid YAML"):
        parse_inventory("branches:\n  - id: B1\n    name: [unclosed, x: y\n  bad\n", "site.yaml")
    with pytest.raises(InventoryError, match=r"nope\.yaml: file not found"):
        load_inventory(tmp_path / "nope.yaml")


def test_a_key_given_twice_is_an_error_naming_both_lines() -> None:
    """Pen test item 7: ``retention_days: 30`` then ``retention_days: 1`` loaded 1."""
    text = yaml.safe_dump(minimal(), allow_unicode=True)
    text = text.replace(
        "timezone: Asia/Shanghai\n",
        "timezone: Asia/Shanghai\npolicy:\n  retention_days: 30\n  retention_days: 1\n",
    )
    lines = text.splitlines()
    first = lines.index("  retention_days: 30") + 1
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, "cameras.yaml")
    assert str(info.value) == (
        f"cameras.yaml: line {first + 1}: key 'retention_days' is given twice in one mapping "
        f"(lines {first} and {first + 1}); YAML keeps only one of them"
    )
    # the same key in two different mappings is fine
    assert parse_inventory(yaml.safe_dump(minimal(), allow_unicode=True)).branches


@pytest.mark.parametrize(
    ("where", "url"),
    [
        ("onvif", "http://audit:secret@127.0.0.1:8000/onvif/device_service"),
        ("onvif", "https://admin@127.0.0.1/onvif/device_service"),
    ],
)
def test_credentials_inside_a_url_are_refused_with_the_key_path(where: str, url: str) -> None:
    data = minimal()
    data["branches"][0]["devices"][0][where] = url  # type: ignore[index]
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(data, allow_unicode=True), "cameras.yaml")
    message = str(info.value)
    assert message.startswith(
        f"cameras.yaml: branches[0].devices[0].{where}: credentials inside a URL are refused"
    )
    assert "secret" not in message


def test_credentials_in_any_url_even_an_unknown_key_are_refused_and_never_echoed() -> None:
    data = minimal()
    data["branches"][0]["notes_url"] = "rtsp://viewer:hunter2@10.0.0.9/live"  # type: ignore[index]
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(data, allow_unicode=True), "cameras.yaml")
    assert "branches[0].notes_url: credentials inside a URL are refused" in str(info.value)
    assert "hunter2" not in str(info.value)
