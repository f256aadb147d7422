"""People and what they may do: accounts and passwords (``users``), a person's roles, their
branch scope and permissions (``roles``).  No HTTP: the web and the CLI both use this."""
