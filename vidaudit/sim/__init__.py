"""Simulated ONVIF fleet: NVRs and cameras on loopback for the demo, tests and benchmarks.

Imports nothing from vidaudit.onvif, collector, compliance, media or sampler: its ground
truth comes from its own scenario, never from the code it judges.

    from vidaudit.sim import Scenario, GenerateSpec, running_fleet

    async with running_fleet(Scenario(generate=GenerateSpec(nvrs=4, channels=8)),
                             inventory_out=tmp / "cameras.sim.yaml") as fleet:
        fleet.ports          # {device id: port}
        fleet.truth          # the truth.json document
        fleet.inventory_path # validated cameras.yaml (+ fleet.env_path)
"""

from typing import TYPE_CHECKING, Any

from vidaudit.sim.scenario import (
    GenerateSpec,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    resolve,
)

if TYPE_CHECKING:
    from vidaudit.sim.fleet import Fleet, running_fleet, start_fleet

_FLEET_NAMES = frozenset({"Fleet", "running_fleet", "start_fleet"})


def __getattr__(name: str) -> Any:
    # The fleet (and the OpenCV/PyAV it renders video with) loads on first use, so that
    # `vidaudit`'s other commands, which import this package for its CLI entry, stay light.
    if name in _FLEET_NAMES:
        from vidaudit.sim import fleet

        return getattr(fleet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Fleet",
    "GenerateSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "resolve",
    "running_fleet",
    "start_fleet",
]
