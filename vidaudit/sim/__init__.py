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

from vidaudit.sim.fleet import Fleet, running_fleet, start_fleet
from vidaudit.sim.scenario import (
    GenerateSpec,
    Scenario,
    ScenarioError,
    load_scenario,
    parse_scenario,
    resolve,
)

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
