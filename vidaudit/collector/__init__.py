"""Domain service: polls every device (``run``, ``fleet``, ``probe``, helper processes in
``shard``), derives what each channel holds (``derive``), judges it by the pure rules
(``compliance``), stores runs, observations and fault tickets (``store``), takes live
snapshots (``snapshots``) and keeps its own tables in bounds (``housekeeping``).
The command line for it is ``vidaudit.cli.collect``."""
