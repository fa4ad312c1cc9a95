"""Alembic environment: runs migrations on the connection that `postroom.store.db.migrate` hands over."""

from alembic import context

from postroom.store.models import Base

target_metadata = Base.metadata
connection = context.config.attributes.get("connection")

if connection is None:  # `alembic` CLI use: build an engine from the configured URL
    from postroom.settings import get_settings
    from postroom.store.db import create_store_engine

    engine = context.config.attributes.get("engine") or create_store_engine(get_settings().database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
