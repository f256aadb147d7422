"""The inventory's event-stream YAML reader gives exactly what PyYAML's strict loader gives.

The reference is PyYAML itself (``yaml.load`` with the strict loader), which nobody here
wrote: for every document the fast reader either returns equal data, or declines and the
classic loader decides (same data, same error)."""

from __future__ import annotations

import math

import pytest
import yaml

from tests.conftest import REPO
from vidaudit.inventory import InventoryError, parse_inventory, yaml_events
from vidaudit.inventory import load as inventory_load

#: Documents the fast path builds itself, each with something YAML 1.1 gives a meaning to.
BUILT = {
    "yaml 1.1 scalars": """
a: yes
b: no
c: on
d: off
e: 8:30
f: 08:30-17:00
g: 0o17
h: 017
i: 0x1F
j: 1_000
k: .inf
l: -.Inf
m: ~
n: null
o: 2024-01-02
p: 2024-01-02T03:04:05+08:00
q: "quoted 123"
r: '1.5'
s: 1.5e3
t: !!str 42
u: !!int "7"
v: !!float "1"
w: !!binary aGVsbG8=
x:
y: ""
""",
    "block scalars and flow collections": """
text: |
  line one
  line two
folded: >
  one
  two
flow: {a: 1, b: [1, 2, {c: d}]}
empty_map: {}
empty_seq: []
nested:
- - 1
  - 2
- {k: v}
""",
    "anchors and aliases": """
hours: &std
  mon: 08:30-17:00
  sun: closed
name: &n 城关支行
branches:
- hours: *std
  name: *n
- hours: *std
""",
    "unicode and keys of several kinds": """
营业部: 1
3: three
2.5: two and a half
true: yes
null: nothing
""",
    "a bare scalar document": "--- just text\n...\n",
    "an empty document": "",
    "a comment only": "# nothing here\n",
}

#: Documents the fast path must hand to the classic loader.
DECLINED = {
    "merge key": "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3\n",
    "explicit set": "s: !!set {a, b}\n",
    "explicit ordered map": "o: !!omap [a: 1, b: 2]\n",
    "duplicate key": "a: 1\nb: 2\na: 3\n",
    "duplicate anchor": "a: &x 1\nb: &x 2\nc: *x\n",
    "undefined alias": "a: *nowhere\n",
    "keys equal in Python (1 and true)": "1: one\ntrue: yes\n",
    "collection as key": "? [1, 2]\n: v\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "python tag": "a: !!python/name:os.system\n",
    "bad timestamp": "a: !!timestamp not-a-time\n",
}


def classic(text: str) -> object:
    return yaml.load(text, Loader=inventory_load._SAFE_LOADER)


def same(left: object, right: object) -> bool:
    """Equality that counts NaN equal to itself (``.nan`` loads as a float NaN)."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict) and isinstance(right, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and left == right


@pytest.mark.parametrize("text", list(BUILT.values()), ids=list(BUILT))
def test_the_fast_path_builds_what_pyyaml_builds(text: str) -> None:
    assert same(yaml_events.load(text), classic(text))


def test_aliases_are_the_same_object_as_pyyaml_makes_them() -> None:
    data = yaml_events.load(BUILT["anchors and aliases"])
    assert data["branches"][0]["hours"] is data["hours"] is data["branches"][1]["hours"]


def test_a_nan_is_a_nan() -> None:
    assert same(yaml_events.load("a: .nan\n"), classic("a: .nan\n"))


@pytest.mark.parametrize("text", list(DECLINED.values()), ids=list(DECLINED))
def test_the_fast_path_declines_and_the_classic_loader_decides(text: str) -> None:
    with pytest.raises(yaml_events.Unsupported):
        yaml_events.load(text)
    try:
        expected: object = classic(text)
    except Exception as exc:  # noqa: BLE001 -- whatever PyYAML raises, the reader raises
        with pytest.raises(type(exc)) as got:
            inventory_load.read_yaml(text)
        assert str(got.value) == str(exc)
    else:
        assert same(inventory_load.read_yaml(text), expected)


def test_a_merge_key_still_merges_through_the_inventory_reader() -> None:
    assert inventory_load.read_yaml(DECLINED["merge key"])["derived"] == {"x": 1, "y": 3}


@pytest.mark.parametrize(
    "text",
    ["a: [1, 2\nb: 3\n", "a: 'open\n", "a:\n  - 1\n - 2\n", "\tkey: value\n"],
    ids=["unclosed flow", "unclosed quote", "bad indent", "tab"],
)
def test_syntax_errors_are_pyyaml_s_own(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as expected:
        classic(text)
    with pytest.raises(type(expected.value)) as got:
        inventory_load.read_yaml(text)
    assert str(got.value) == str(expected.value)


def fleet_document(branches: int) -> dict[str, object]:
    """An inventory shaped as ``vidaudit sim`` writes one (times, quoted GB/T 28181 IDs,
    Chinese names, ${ENV} references)."""
    return {
        "timezone": "Asia/Shanghai",
        "env_file": "cameras.env",
        "policy": {"retention_days": 30, "retention_days_by_role": {"vault": 90}},
        "branches": [
            {
                "id": f"FY{b:03d}",
                "name": f"第{b}支行",
                "hours": {"mon": "08:30-17:00", "sat": "09:00-16:00", "sun": "closed"},
                "closed_dates": ["2026-10-01"],
                "devices": [
                    {
                        "id": f"FY{b:03d}-NVR1",
                        "kind": "nvr",
                        "onvif": f"http://127.0.0.1:{30000 + b}/onvif/device_service",
                        "password": f"${{VIDAUDIT_PW_FY{b:03d}}}",
                        "rtsp_port": 40000 + b,
                        "channels": [
                            {
                                "id": f"FY{b:03d}-C{c:02d}",
                                "name": f"{c}号柜台",
                                "role": "counter",
                                "ref": {"profile": f"media_profile{c}"},
                                "gb_id": f"3402000000131{b:03d}{c:04d}",
                                "audio": "required",
                            }
                            for c in range(1, 17)
                        ],
                    }
                ],
            }
            for b in range(1, branches + 1)
        ],
    }


def test_the_shipped_and_written_inventories_read_the_same() -> None:
    """The example cameras.yaml, the YAML the package ships (the demo scenario), and a
    fleet inventory dumped as ``vidaudit sim`` dumps one."""
    shipped = [REPO / "cameras.yaml", *sorted((REPO / "vidaudit").rglob("*.yaml"))]
    texts = [path.read_text(encoding="utf-8") for path in shipped]
    texts.append(yaml.dump(fleet_document(40), allow_unicode=True, sort_keys=False, width=120))
    assert len(texts) >= 3
    for text in texts:
        assert same(yaml_events.load(text), classic(text))


def test_a_value_its_tag_cannot_hold_is_a_clear_inventory_error() -> None:
    """PyYAML raises AttributeError on ``!!timestamp`` text that is no time: the inventory
    names the file and the cause instead of a traceback."""
    with pytest.raises(InventoryError, match=r"site.yaml: not valid YAML: a value does not fit"):
        parse_inventory("timezone: !!timestamp tomorrow\nbranches: []\n", "site.yaml")
