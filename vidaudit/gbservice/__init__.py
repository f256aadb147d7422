"""The GB/T 28181 service: ``vidaudit gb serve`` (also inside ``serve`` and ``demo``).

It stands where an upper video platform stands: the inventory's ``gb28181`` section is
its SIP identity, its ``api: gb28181`` devices are the recorders allowed to register.
``service.py`` wires the protocol layer (``vidaudit.gb28181``) to the database
(``store.py``: registrations kept across restarts) and opens the local control channel
the collector and the frame puller ask it through (``vidaudit.gb28181.control``).
"""
