"""The ``vidaudit`` command line: a thin adapter over the packages below it.

``main`` builds the Typer app and registers every command; each command module parses
its options, calls the domain services and prints.  ``support`` holds what every command
does first (load the inventory, open a current database) and how it fails (exit 2).
"""

from vidaudit.cli.main import app, main

__all__ = ["app", "main"]
