"""Opening the state database safely, and the outbox's memory of what was sent.

- A state database that is missing where one existed before is refused (`StateMissing`)
  unless the user asks for a new one (`init=True`): the outbox keeps a marker naming the
  database it belongs to, so a deleted `state.db` is noticed instead of silently recreated.
- Every way the database can fail to open — a corrupt or truncated file, a read-only one, an
  unreachable PostgreSQL — becomes `StateUnavailable`: one line naming the file or host and
  what to do, with the exit code the SPEC gives (2: the user must fix something; 1: a fault
  that may pass).
- `SentJournal`: one line per delivery sent, in the outbox, so a ledger that was lost and
  recreated never sends a period again that the outbox shows as sent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.util.exc import CommandError

from connectors.store import StateStore

MARKER = ".stagecast-state"
JOURNAL = ".sent"


class StateUnavailable(Exception):
    """The state database cannot be used; `exit_code` is what the CLI exits with."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StateMissing(StateUnavailable):
    """The database is gone (or empty) where the outbox says one held deliveries."""


def where(url: str) -> str:
    """The database as a person names it: the file, or host/database (never a password)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    port = f":{parsed.port}" if parsed.port else ""
    return f"PostgreSQL {parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def open_state(url: str, outbox: Path, *, init: bool = False) -> StateStore:
    """The state store, migrated; refused when it disappeared (see the module doc)."""
    marker = outbox / MARKER
    known = _marker(marker)
    if known is not None and known.get("state") == where(url) and _is_new(url) and not init:
        raise StateMissing(
            f"state: {where(url)} is missing or empty, but {marker} shows it held this"
            f" project's deliveries (since {known.get('since', '?')}). Restore it from a"
            " backup; or run again with --init to start an empty one (what the outbox shows"
            " as sent is still not sent again)."
        )
    try:
        store = StateStore(url)
    except (sa.exc.SQLAlchemyError, CommandError, OSError) as err:
        raise _unavailable(url, err) from None
    mark(url, outbox)
    return store


@contextmanager
def state_store(url: str, outbox: Path, *, init: bool = False) -> Iterator[StateStore]:
    """`open_state` as a context manager that closes the store; the outbox's marker is
    written once the run has put something there (a dry run writes nothing)."""
    store = open_state(url, outbox, init=init)
    try:
        yield store
    finally:
        store.close()
    mark(url, outbox)


def mark(url: str, outbox: Path) -> None:
    """Name the database in the outbox, once the outbox exists (see `open_state`)."""
    marker = outbox / MARKER
    known = _marker(marker)
    if outbox.is_dir() and (known is None or known.get("state") != where(url)):
        _write_marker(marker, url)


def _is_new(url: str) -> bool:
    """Whether the database does not exist yet or holds no stagecast tables."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return False
        path = Path(database)
        return not path.exists() or path.stat().st_size == 0
    engine = sa.create_engine(parsed)
    try:
        with engine.connect() as conn:
            return not sa.inspect(conn).has_table("alembic_version")
    except sa.exc.SQLAlchemyError as err:
        raise _unavailable(url, err) from None
    finally:
        engine.dispose()


def _unavailable(url: str, err: BaseException) -> StateUnavailable:
    """One line for the ways a database fails to open."""
    text = str(getattr(err, "orig", None) or err).splitlines()[0] if str(err) else ""
    lowered = text.lower()
    name = where(url)
    if sa.make_url(url).get_backend_name() != "sqlite":
        if isinstance(err, sa.exc.OperationalError) and _unreachable(lowered):
            return StateUnavailable(
                f"state: cannot reach {name} ({text}); check that it runs and the URL in `state:`",
                exit_code=1,
            )
        return StateUnavailable(f"state: {name} cannot be used ({text}); check `state:`")
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return StateUnavailable(
            f"state: {name} is not a stagecast database or is damaged ({text}); restore it"
            " from a backup, or move it away and run again with --init"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
        return StateUnavailable(
            f"state: cannot write {name} ({text}); check the file's and its folder's permissions"
        )
    return StateUnavailable(f"state: {name} cannot be used ({text or type(err).__name__})")


def _unreachable(text: str) -> bool:
    return any(
        word in text
        for word in ("connection refused", "could not connect", "timeout", "timed out", "resolve")
    )


def _marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_marker(path: Path, url: str) -> None:
    """Best effort: an outbox we cannot write to must not stop the run."""
    try:
        since = datetime.now(UTC).isoformat(timespec="seconds")
        path.write_text(json.dumps({"state": where(url), "since": since}) + "\n", "utf-8")
    except OSError:
        pass


@dataclass(frozen=True)
class SentJournal:
    """The outbox's append-only list of delivery keys sent, one file per project."""

    outbox: Path

    def _file(self, project: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in project)
        return self.outbox / JOURNAL / f"{safe}.jsonl"

    def record(self, project: str, key: str, id: str) -> None:
        """Remember that `key` was sent (best effort; the ledger stays the authority)."""
        line = json.dumps({"key": key, "id": id, "at": datetime.now(UTC).isoformat()})
        path = self._file(project)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError:
            pass

    def sent(self, project: str, key: str) -> str | None:
        """The id `key` was sent under, if the journal has it."""
        try:
            lines = self._file(project).read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash
            if isinstance(row, dict) and row.get("key") == key:
                return str(row.get("id"))
        return None
