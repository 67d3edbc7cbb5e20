"""The local PostgreSQL, for the tests that run on it (and skip, saying why, without it)."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import sqlalchemy as sa

PG_URL = os.environ.get(
    "STAGECAST_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def postgres_reachable() -> bool:
    """Whether the PostgreSQL of PG_URL accepts TCP connections."""
    url = sa.make_url(PG_URL)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1).close()
    except OSError:
        return False
    return True


def where() -> str:
    """PG_URL without a password, for skip messages."""
    return sa.make_url(PG_URL).render_as_string()


@contextmanager
def fresh_database(prefix: str = "stagecast_test", driver: str | None = None) -> Iterator[str]:
    """A new, empty database (session zone Asia/Shanghai), dropped afterwards; its URL, with
    `driver` (e.g. `postgresql+asyncpg`) when given."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
            conn.exec_driver_sql(f"ALTER DATABASE {name} SET timezone TO 'Asia/Shanghai'")
        url = sa.make_url(PG_URL).set(database=name)
        if driver:
            url = url.set(drivername=driver)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
