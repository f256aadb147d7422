"""The GB/T 28181 keys of cameras.yaml, exactly as the issue writes them, and each mistake
reported with the file, the key path and what was expected."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from vidaudit.inventory import InventoryError, check_secrets, parse_inventory
from vidaudit.inventory.load import SecretResolver
from vidaudit.inventory.schema import Api

EXAMPLE = """
gb28181:                               # vidaudit's own SIP identity, once per inventory
  id: "34020000002000000001"           # 20-digit platform ID
  domain: "3402000000"
  listen: "0.0.0.0:5060"               # UDP and TCP
  password: ${VIDAUDIT_GB_PASSWORD}    # the password devices register with (digest)
branches:
  - id: FY002
    name: 城南分理处
    hours: {mon: "08:30-17:00"}
    devices:
      - id: FY002-NVR1
        kind: nvr
        vendor: hikvision
        api: gb28181
        gb_id: "34020000001110000001"   # the device's 20-digit ID
        channels:
          - {id: FY002-C01, ref: {gb_id: "34020000001320000001"}, name: 1号柜台, role: counter}
"""


def data() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(EXAMPLE)
    return loaded


def problems(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(document, allow_unicode=True), "site.yaml")
    assert str(info.value).startswith("site.yaml: ")
    return [str(p) for p in info.value.problems]


def test_the_issues_example_loads() -> None:
    inventory = parse_inventory(EXAMPLE, "site.yaml")
    assert inventory.gb28181 is not None
    assert (inventory.gb28181.host, inventory.gb28181.port) == ("0.0.0.0", 5060)
    ((_branch, device),) = inventory.devices()
    assert device.api is Api.GB28181 and device.gb_id == "34020000001110000001"
    assert device.channels[0].ref.gb_id == "34020000001320000001"
    resolver = SecretResolver(inventory, environ={"VIDAUDIT_GB_PASSWORD": "s3cret"})
    assert resolver.platform_password(inventory.gb28181).get_secret_value() == "s3cret"
    missing = check_secrets(inventory, "site.yaml", environ={})
    assert [p.path for p in missing] == ["gb28181.password"]


def test_a_gb_device_without_the_platform_section() -> None:
    document = data()
    del document["gb28181"]
    (problem,) = problems(document)
    assert "add the top-level gb28181 section" in problem


@pytest.mark.parametrize(
    ("path", "value", "where", "expected"),
    [
        (("gb28181", "id"), "3402", "gb28181.id", "20-digit"),
        (("gb28181", "domain"), "34a", "gb28181.domain", "10-digit"),
        (("gb28181", "listen"), "5060", "gb28181.listen", "HOST:PORT"),
        (("gb28181", "password"), "plain", "gb28181.password", "literal password"),
    ],
)
def test_platform_mistakes_name_their_key(
    path: tuple[str, ...], value: str, where: str, expected: str
) -> None:
    document = data()
    document[path[0]][path[1]] = value
    found = problems(document)
    assert any(p.startswith(where) and expected in p for p in found), found


def test_device_mistakes_name_their_device() -> None:
    device = "branches[0].devices[0]"
    document = data()
    document["branches"][0]["devices"][0]["gb_id"] = "1234"
    assert any(p.startswith(f"{device}.gb_id") for p in problems(document))

    document = data()
    del document["branches"][0]["devices"][0]["gb_id"]
    assert any(p.startswith(device) and "needs gb_id" in p for p in problems(document))

    document = data()
    document["branches"][0]["devices"][0]["username"] = "admin"
    assert any("api gb28181 takes no username" in p for p in problems(document))

    document = data()
    document["branches"][0]["devices"][0]["channels"][0]["ref"] = {"channel": 1}
    assert any("need ref.gb_id" in p for p in problems(document))

    document = data()
    document["branches"][0]["devices"][0]["api"] = "sip"
    assert any(p.startswith(f"{device}.api") for p in problems(document))


def test_an_unquoted_id_is_explained() -> None:
    document = data()
    document["branches"][0]["devices"][0]["gb_id"] = 34020000001110000001
    (problem,) = problems(document)
    assert problem.startswith("branches[0].devices[0].gb_id: expected text: put ")
    assert "in quotes" in problem


def test_ids_used_twice_are_refused() -> None:
    document = data()
    twin = copy.deepcopy(document["branches"][0]["devices"][0])
    twin["id"] = "FY002-NVR2"
    twin["channels"][0]["id"] = "FY002-C02"
    document["branches"][0]["devices"].append(twin)
    assert any("used twice" in p for p in problems(document))


def test_an_onvif_device_still_needs_its_url_and_user() -> None:
    document = data()
    document["branches"][0]["devices"][0] |= {"api": "onvif"}
    found = problems(document)
    # each missing key on its own key path (the field checks the vendor APIs brought)
    assert any(p.startswith("branches[0].devices[0].onvif: required key") for p in found), found
    assert any(p.startswith("branches[0].devices[0].username: required key") for p in found), found
