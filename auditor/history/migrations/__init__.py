"""Alembic migration scripts of the history database, run programmatically by ``HistoryStore.migrate``."""
