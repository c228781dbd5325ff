"""Alembic's environment: migrations run on the connection `bot.store.database.migrate_schema`
hands over (inside its transaction and advisory lock), never on a URL of their own."""

from alembic import context

from bot.store.tables import Base, ours

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, include_name=ours)
with context.begin_transaction():
    context.run_migrations()
