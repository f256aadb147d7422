"""The GB/T 28181 service: ``vidaudit gb serve`` (also inside ``serve`` and ``demo``).

It stands where an upper video platform stands: the inventory's ``gb28181`` section is
its SIP identity, its ``api: gb28181`` devices are the recorders allowed to register.
``service.py`` wires the protocol layer (``vidaudit.gb28181``) to the database
(``store.py``: registrations kept across restarts) and serves the local control channel
(``control.py``) the collector and the frame puller ask it through with
``vidaudit.gb28181.control.ControlClient``.  A domain service: the command line starts
it; the collector and the sampler never import it.
"""
