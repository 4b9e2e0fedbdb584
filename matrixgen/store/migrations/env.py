"""Alembic's entry point, run by ``store.upgrade``: the connection comes from the caller, inside
its transaction, so an upgrade is all or nothing on both SQLite and PostgreSQL."""

from alembic import context

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters a column only by copying its table, which batch mode does.
context.configure(connection=connection, target_metadata=None, render_as_batch=True,
                  transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
