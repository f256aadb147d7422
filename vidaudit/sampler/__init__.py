"""Domain service: spot-check plans (``plan``, ``store``), frame pulls registered before
any video is fetched (``pull``), the one way a task's frames are pulled for the CLI and
the web (``tasks``), and retention proven by footage (``retention``)."""
