"""Database: models, engines, migrations."""
