"""Alembic environment: always driven programmatically with a connection from ``HistoryStore``.

The caller opens the connection and the transaction (and takes the migration lock), so this file
only configures the context. There is no ``alembic.ini`` and no logging configuration here.
"""

from __future__ import annotations

from alembic import context

from auditor.history.models import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run history migrations through auditor.history.HistoryStore.migrate().")

context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
