"""``python -m vidaudit.sim --nvrs 4 --channels 8 --inventory-out cameras.sim.yaml``."""

from vidaudit.sim.command import main

main()
