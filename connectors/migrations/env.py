"""Alembic environment for the state store.

At runtime `StateStore` hands over its connection in `config.attributes["connection"]`, so no
alembic.ini is needed. For writing new revisions by hand or with autogenerate, use the bundled
ini and a URL: `alembic -c connectors/migrations/alembic.ini -x url=sqlite:///dev.db revision
--autogenerate -m "..."`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from connectors.store import metadata

config = context.config


def _url() -> str:
    """The URL given with `-x url=...`, else the ini's `sqlalchemy.url`."""
    url = context.get_x_argument(as_dictionary=True).get("url")
    return url or config.get_main_option("sqlalchemy.url") or ""


def _migrate(connection: sa.Connection) -> None:
    """Run the migrations on a connection; batch mode lets later ALTERs work on SQLite."""
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    """Offline: print SQL for the URL. Online: use the store's connection, or open the URL."""
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


run()
