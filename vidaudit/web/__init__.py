"""The web view: FastAPI app factory (``app.create_app``), typed dependencies (``deps``),
roles and permissions as data (``roles``), auth, i18n; pages live in ``routes/``."""
