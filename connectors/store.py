"""The state store: snapshots, source cursors, stage baselines and the delivery ledger.

SQLite by default, PostgreSQL by URL (SPEC §11). The schema is defined once here as SQLAlchemy
Core tables; `connectors/migrations` creates the same tables and every open runs Alembic
`upgrade head`, so a database is migrated, never recreated. Datetimes go in aware and come out
aware in UTC on both backends. Every method uses its own connection from one engine, so a store
can be shared between threads.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine

from stagecast.ledger import LEDGER_STATES, LedgerStatus, may_move, recover
from stagecast.models import Snapshot
from stagecast.serialize import (
    BODY_FIELDS,
    FORMAT,
    Body,
    EncodedSnapshot,
    decode_body,
    decode_parts,
    decode_stages_only,
    encode_parts,
)

DEFAULT_URL = "sqlite:///.stagecast/state.db"
MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration in migrations/versions (tests/connectors/test_store.py checks it is
# Alembic's head).
HEAD_REVISION = "0004"


_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
_WRITE = "stagecast_write"  # execution option: take SQLite's write lock at BEGIN
_MIGRATION_LOCK = 0x5354_4147  # pg advisory lock id ("STAG"): one migrator at a time


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out: SQLite keeps no offset, so store UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Normalise to UTC so SQLite's text timestamps sort by instant."""
        return None if value is None else _aware(value).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """SQLite returns naive UTC, PostgreSQL the session's zone: both become UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

# One row per stored moment. Its `format` says what `data` holds (`stagecast.serialize`): 0, the
# whole snapshot (rows stored before formats were numbered); 1, the head (`as_of`, `sources`),
# its body being the `snapshot_bodies` row of `body_id`, which later moments share while the
# project does not change.
snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("as_of", UTCDateTime, nullable=False),
    sa.Column("stored_at", UTCDateTime, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("emitted", sa.Text, nullable=False),
    sa.Column("format", sa.Integer, nullable=False, server_default="0"),
    sa.Column(
        "body_id",
        sa.Integer,
        sa.ForeignKey("snapshot_bodies.id", name="fk_snapshots_body"),
        nullable=True,
    ),
    sa.UniqueConstraint("project", "as_of", name="uq_snapshots_project_as_of"),
)

# A project's snapshot bodies by content: `digest` is the SHA-256 of the format and the encoded
# body, so equal content is stored once however many moments have it. Never updated.
snapshot_bodies = sa.Table(
    "snapshot_bodies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("digest", sa.Text, nullable=False),
    sa.Column("format", sa.Integer, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("project", "digest", name="uq_snapshot_bodies_project_digest"),
)

snapshot_stages = sa.Table(
    "snapshot_stages",
    metadata,
    sa.Column(
        "snapshot_id",
        sa.Integer,
        sa.ForeignKey("snapshots.id", ondelete="CASCADE", name="fk_snapshot_stages_snapshot"),
        primary_key=True,
    ),
    sa.Column("stage_key", sa.Text, primary_key=True),
    sa.Column("stage_name", sa.Text, nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
)

source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("project", sa.Text, primary_key=True),
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("last_ok", UTCDateTime, nullable=True),
    sa.Column("cursor", sa.Text, nullable=True),
    sa.Column("last_full", UTCDateTime, nullable=True),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
    sa.Column("period", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("not_before", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("decided_by", sa.Text, nullable=True),
    sa.Column("decided_at", UTCDateTime, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("receipt", sa.Text, nullable=True),
    sa.Column("flow_run", sa.Text, nullable=True),
    sa.Column("claimed_by", sa.Text, nullable=True),
    sa.Column("lease_until", UTCDateTime, nullable=True),
    sa.Column("parts_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("in_flight", sa.Integer, nullable=True),
    sa.Column("retryable", sa.Boolean, nullable=True),
    sa.Column("config_hash", sa.Text, nullable=True),
    sa.UniqueConstraint("key", name="uq_deliveries_key"),
    sa.Index("ix_deliveries_status", "status"),
)


project_locks = sa.Table(
    "project_locks",
    metadata,
    sa.Column("project", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=True),
    sa.Column("since", UTCDateTime, nullable=True),
)


@dataclass(frozen=True)
class SourceState:
    """What the sync remembers about one source of a project between runs."""

    name: str
    last_ok: datetime | None
    cursor: str | None
    last_full: datetime | None


def new_delivery_id() -> str:
    """A short id people can type in `stagecast approve d-7f3a9c`."""
    return f"d-{secrets.token_hex(3)}"


def delivery_key(project: str, report: str, period: str, channel: str) -> str:
    """The exactly-once key (SPEC §8); `|` and `%` are escaped so keys never collide."""
    parts = (project, report, period, channel)
    return "|".join(p.replace("%", "%25").replace("|", "%7C") for p in parts)


def _now() -> datetime:
    return datetime.now(UTC)


_PROCESS_TOKEN = secrets.token_hex(3)


def claim_owner() -> str:
    """Who holds a claim: host, process and a token, so a recycled pid is not mistaken."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One delivery (SPEC §8): a report for one channel and period, and what became of it."""

    key: str
    project: str
    report: str
    period: str
    channel: str
    status: LedgerStatus
    content: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=new_delivery_id)
    not_before: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    receipt: str | None = None
    flow_run: str | None = None  # the Prefect run that recorded it (and waits on its approval)
    claimed_by: str | None = None  # the process sending it (`sending`), or that last did
    lease_until: datetime | None = None  # a `sending` claim not renewed by then is dead
    parts_done: int = 0  # parts of a multi-part post delivered so far
    in_flight: int | None = None  # the part whose request left and has no answer yet
    retryable: bool | None = None  # of a `failed` one: can a later try succeed?
    config_hash: str | None = None  # the channel's config when it last failed
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)


class LedgerConflict(Exception):
    """A delivery was not in the state the caller expected: another run got there first."""


class ProjectBusy(Exception):
    """Another run held the project's sync lock for longer than we were willing to wait."""

    def __init__(self, project: str, timeout: float) -> None:
        super().__init__(
            f"project '{project}': another sync has held it for over {timeout:.0f}s; try again"
            " when it has finished"
        )


_IDENTITY = frozenset({"id", "key", "project", "report", "period", "channel", "created_at"})
_UPDATABLE = (
    frozenset(f.name for f in dataclasses.fields(LedgerEntry))
    - _IDENTITY
    - {"status", "updated_at"}
)


class StateStore:
    """Snapshots, source state and the delivery ledger of every project, in one database."""

    def __init__(self, url: str) -> None:
        self.engine = _create_engine(url)
        self._writer = self.engine.execution_options(**{_WRITE: True})
        # Decoded snapshots by the body they were made of, only while still in use elsewhere.
        self._in_use: weakref.WeakValueDictionary[int, Snapshot] = weakref.WeakValueDictionary()
        try:
            self._upgrade()
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        """Release every pooled connection (and, for SQLite, the file)."""
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _upgrade(self) -> None:
        """Migrate to head in one transaction; concurrent openers wait for each other. A
        database at head (nearly every open) is left as it is without loading Alembic and the
        migration scripts, a tenth of a second a one-shot command need not pay."""
        if self._at_head():
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def _at_head(self) -> bool:
        with self._writer.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return False
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        return [v for (v,) in versions] == [HEAD_REVISION]

    # snapshots

    def latest_before(self, project: str, as_of: datetime) -> Snapshot | None:
        """The previous snapshot (SPEC §6): the latest with an earlier instant."""
        query = (
            sa.select(*_STORED)
            .where(snapshots.c.project == project, snapshots.c.as_of < _aware(as_of))
            .order_by(snapshots.c.as_of.desc())
            .limit(1)
        )
        return self._snapshot(query)

    def snapshot_at(self, project: str, as_of: datetime) -> Snapshot | None:
        """The snapshot stored for exactly this instant, whatever offset either was written in."""
        return self._snapshot(sa.select(*_STORED).where(*_at(project, as_of)))

    def history(self, project: str, until: datetime, limit: int = 400) -> list[Snapshot]:
        """The project's snapshots up to `until` (inclusive), oldest first; the latest `limit`.
        Snapshots that share a body share its decoding (and its task objects)."""
        query = (
            sa.select(*_STORED)
            .where(snapshots.c.project == project, snapshots.c.as_of <= _aware(until))
            .order_by(snapshots.c.as_of.desc())
            .limit(limit)
        )
        return self._read(query)[::-1]

    def daily_history(
        self,
        project: str,
        until: datetime,
        tz: tzinfo,
        days: int = 400,
        *,
        stages_only: bool = False,
    ) -> list[Snapshot]:
        """The last snapshot of each local day up to `until` (inclusive), oldest first; the
        latest `days` days. What a burn-up chart reads: a project synced hourly keeps 24
        snapshots a day, and only the moments are read to choose one of them.

        With `stages_only`, each snapshot's tasks, documents, minutes and risks are left empty,
        undecoded: a burn-up chart reads the stages alone, and a year of days of a large
        project's tasks would cost the report seconds.
        """
        moments = sa.select(snapshots.c.id, snapshots.c.as_of).where(
            snapshots.c.project == project, snapshots.c.as_of <= _aware(until)
        )
        with self.engine.connect() as conn:
            last_of_day: dict[date, tuple[datetime, int]] = {}
            for row_id, as_of in conn.execute(moments):
                day = as_of.astimezone(tz).date()
                if day not in last_of_day or as_of > last_of_day[day][0]:
                    last_of_day[day] = (as_of, row_id)
        ids = [last_of_day[d][1] for d in sorted(last_of_day)[-days:]]
        query = sa.select(*_STORED).where(snapshots.c.id.in_(ids))
        return self._read(query.order_by(snapshots.c.as_of), stages_only=stages_only)

    def has_later_snapshot(self, project: str, as_of: datetime) -> bool:
        """Whether a snapshot of a later instant is stored (a sync overtook this one)."""
        query = sa.select(snapshots.c.id).where(
            snapshots.c.project == project, snapshots.c.as_of > _aware(as_of)
        )
        with self.engine.connect() as conn:
            return conn.scalar(query.limit(1)) is not None

    def emitted_at(self, project: str, as_of: datetime) -> set[str]:
        """Event ids already emitted for the snapshot at `as_of`, so a re-run emits none twice."""
        with self.engine.connect() as conn:
            raw = conn.scalar(sa.select(snapshots.c.emitted).where(*_at(project, as_of)))
        return set() if raw is None else set(json.loads(raw))

    def baselines(self, project: str, before: datetime) -> dict[str, int]:
        """Per stage, its total in the first earlier snapshot where it had any task (burn-up)."""
        s, ss = snapshots, snapshot_stages
        staged = ss.join(s, s.c.id == ss.c.snapshot_id)
        mine = (s.c.project == project, s.c.as_of < _aware(before), ss.c.total >= 1)
        first = (
            sa.select(ss.c.stage_key, sa.func.min(s.c.as_of).label("as_of"))
            .select_from(staged)
            .where(*mine)
            .group_by(ss.c.stage_key)
            .subquery()
        )
        query = (
            sa.select(ss.c.stage_key, ss.c.total)
            .select_from(staged)
            .join(first, sa.and_(first.c.stage_key == ss.c.stage_key, first.c.as_of == s.c.as_of))
            .where(s.c.project == project)
        )
        with self.engine.connect() as conn:
            return {key: total for key, total in conn.execute(query)}

    def source_states(self, project: str) -> dict[str, SourceState]:
        """What each source of the project last reported, by source name."""
        t = source_state
        query = sa.select(t.c.source, t.c.last_ok, t.c.cursor, t.c.last_full).where(
            t.c.project == project
        )
        with self.engine.connect() as conn:
            return {row.source: SourceState(*row) for row in conn.execute(query)}

    def save_sync(
        self, snapshot: Snapshot, source_states: Iterable[SourceState], emitted: Iterable[str]
    ) -> None:
        """Store one sync's outcome in a single transaction, so a crash leaves nothing half-done.

        A snapshot with the same instant replaces the stored one; emitted ids add to those
        already recorded for it; source states are replaced by the ones given.

        Only the snapshot's head (its moment and its sources' status) is new with every sync.
        Its body (tasks, stages, risks…) is written only when the project has no body of the
        same content yet: a sync that found nothing new stores a head pointing at the body it
        shares with the sync before, not another copy.
        """
        encoded = encode_parts(snapshot)
        digest = _digest(encoded)
        with self._writer.begin() as conn:
            body_id = _body_id(conn, snapshot.project, digest, encoded.body)
            snapshot_id, before = _claim_snapshot(conn, snapshot, encoded.head, body_id)
            _replace_stages(conn, snapshot_id, snapshot)
            _upsert_source_states(conn, snapshot.project, source_states)
            conn.execute(
                snapshots.update()
                .where(snapshots.c.id == snapshot_id)
                .values(
                    format=FORMAT,
                    data=encoded.head,
                    body_id=body_id,
                    stored_at=_now(),
                    emitted=_dumps(sorted(before | set(emitted))),
                )
            )

    def _snapshot(self, query: sa.Select[Any]) -> Snapshot | None:
        found = self._read(query)
        return found[0] if found else None

    def _read(self, query: sa.Select[Any], *, stages_only: bool = False) -> list[Snapshot]:
        """The snapshots of the rows `query` selects (`_STORED`), in its order. A body is read
        and decoded once however many rows share it, and not at all while a snapshot made of it
        is still in use: a run reads the same body again (the previous snapshot, the history,
        each channel's comparison), and a stored body never changes. Decoding happens after the
        connection is given back, since a read holds SQLite's lock against writers."""
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
            ids = {row.body_id for row in rows if row.body_id is not None}
            known = {} if stages_only else self._bodies_in_use(ids)
            texts = _body_texts(conn, ids - known.keys())
        decode = decode_stages_only if stages_only else decode_body
        bodies = known | {id: decode(text) for id, text in texts.items()}
        found = [_decode_row(row, bodies, decode) for row in rows]
        if not stages_only:
            for row, snapshot in zip(rows, found, strict=True):
                if row.body_id in texts:
                    self._in_use[row.body_id] = snapshot
        return found

    def _bodies_in_use(self, ids: set[int]) -> dict[int, Body]:
        """The bodies of these ids that a snapshot still in use was made of."""
        alive = {id: s for id in ids if (s := self._in_use.get(id)) is not None}
        return {id: {name: getattr(s, name) for name in BODY_FIELDS} for id, s in alive.items()}

    # the delivery ledger

    def record_delivery(self, d: LedgerEntry) -> LedgerEntry:
        """Insert a delivery; if its key is already recorded, return that entry untouched."""
        _check_status(d.status)
        for _ in range(8):
            with self._writer.begin() as conn:
                conn.execute(_insert(conn, deliveries).values(_row(d)).on_conflict_do_nothing())
                row = conn.execute(sa.select(deliveries).where(deliveries.c.key == d.key)).first()
            if row is not None:
                return _entry(row)
            d = replace(d, id=new_delivery_id())  # the short id was taken by another key
        raise RuntimeError("could not find a free delivery id")

    def delivery_by_key(self, key: str) -> LedgerEntry | None:
        """The delivery of one exactly-once key, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.key == key)).first()
        return None if row is None else _entry(row)

    def delivery(self, id: str) -> LedgerEntry | None:
        """One delivery by id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.id == id)).first()
        return None if row is None else _entry(row)

    def deliveries(
        self, status: str | None = None, project: str | None = None, flow_run: str | None = None
    ) -> list[LedgerEntry]:
        """Deliveries, oldest first; optionally only those in one state, of one project, or
        recorded by one Prefect flow run."""
        query = sa.select(deliveries).order_by(deliveries.c.created_at, deliveries.c.id)
        if status is not None:
            query = query.where(deliveries.c.status == _check_status(status))
        if project is not None:
            query = query.where(deliveries.c.project == project)
        if flow_run is not None:
            query = query.where(deliveries.c.flow_run == flow_run)
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def set_status(
        self,
        id: str,
        status: str,
        *,
        expect: str | Collection[str] | None = None,
        owner: str | None = None,
        unchanged_since: datetime | None = None,
        **fields: Any,
    ) -> LedgerEntry:
        """Move a delivery to `status`, updating `fields` too.

        The row is locked (`SELECT … FOR UPDATE`; SQLite: the write lock taken at BEGIN) before
        it is checked, so the check and the move are one step however many workers try at once.
        With `expect`, the move happens only from those states (else `LedgerConflict`), so two
        workers cannot both claim a delivery for sending. With `owner`, only the holder of the
        claim may move it. With `unchanged_since` (the `updated_at` the caller read), only if
        nobody changed it since: a decision made on what the caller read is not applied to a
        delivery another worker has moved on (and back) in the meantime. A move the ledger's
        rules do not allow (`stagecast.ledger.TRANSITIONS`) is a `LedgerConflict` too.
        """
        values = {**_ledger_fields(fields), "status": _check_status(status), "updated_at": _now()}
        allowed = {expect} if isinstance(expect, str) else expect
        where = deliveries.c.id == id
        with self._writer.begin() as conn:
            row = conn.execute(
                sa.select(deliveries.c.status, deliveries.c.claimed_by, deliveries.c.updated_at)
                .where(where)
                .with_for_update()
            ).first()
            if row is None:
                raise KeyError(f"no delivery {id!r}")
            current = row.status
            if owner is not None and row.claimed_by != owner:
                raise LedgerConflict(f"delivery {id} is claimed by {row.claimed_by}, not {owner}")
            if allowed is not None and current not in allowed:
                raise LedgerConflict(f"delivery {id} is {current}, not {'/'.join(allowed)}")
            if unchanged_since is not None and row.updated_at != unchanged_since:
                raise LedgerConflict(f"delivery {id} changed since it was read")
            if not may_move(current, status):
                raise LedgerConflict(f"delivery {id} cannot go from {current} to {status}")
            conn.execute(deliveries.update().where(where).values(values))
            return _entry(conn.execute(sa.select(deliveries).where(where)).one())

    def claim(
        self,
        id: str,
        *,
        expect: str | Collection[str],
        lease: timedelta,
        unchanged_since: datetime | None = None,
        **fields: Any,
    ) -> LedgerEntry:
        """Take a delivery for sending: `sending`, owned by this process until `lease` from now
        unless renewed (`part_leaving`, `part_delivered`). Raises `LedgerConflict` when another
        run got there first (or, with `unchanged_since`, changed it since the caller read it)."""
        return self.set_status(
            id,
            "sending",
            expect=expect,
            unchanged_since=unchanged_since,
            claimed_by=claim_owner(),
            lease_until=_now() + lease,
            in_flight=None,
            **fields,
        )

    def part_leaving(self, id: str, part: int, lease: timedelta) -> None:
        """Record, before its request leaves, that `part` may reach the platform from now on;
        renews the claim. `LedgerConflict` when the claim is no longer ours (recovered)."""
        self._renew(id, lease, in_flight=part)

    def part_delivered(self, id: str, part: int, lease: timedelta) -> None:
        """Record that the platform took `part`; renews the claim."""
        self._renew(id, lease, in_flight=None, parts_done=part)

    def part_unsent(self, id: str, lease: timedelta) -> None:
        """The request in flight got a definite "no" (or never left): nothing of it arrived."""
        self._renew(id, lease, in_flight=None)

    def _renew(self, id: str, lease: timedelta, **values: Any) -> None:
        mine = (
            deliveries.c.id == id,
            deliveries.c.status == "sending",
            deliveries.c.claimed_by == claim_owner(),
        )
        now = _now()
        update = deliveries.update().where(*mine)
        with self._writer.begin() as conn:
            done = conn.execute(update.values(lease_until=now + lease, updated_at=now, **values))
        if done.rowcount != 1:
            raise LedgerConflict(f"delivery {id} is no longer claimed by this process")

    def dead_claims(self, now: datetime | None = None, grace: timedelta | None = None) -> list[str]:
        """Ids of `sending` deliveries whose lease ran out by the clock. A claim from before
        leases existed counts as dead `grace` after its last update."""
        now = now or _now()
        t = deliveries.c
        expired = sa.or_(
            t.lease_until < now,
            sa.and_(t.lease_until.is_(None), t.updated_at < now - (grace or timedelta(0))),
        )
        query = sa.select(t.id).where(t.status == "sending", expired).order_by(t.created_at)
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def recover_claim(self, id: str, now: datetime | None = None) -> LedgerEntry | None:
        """Decide a dead claim (`stagecast.ledger.recover`): `failed` to resend from the first
        part not delivered when no request can have arrived, else `unknown`. None when the
        claim is alive again or already decided (another run recovered it)."""
        now = now or _now()
        where = deliveries.c.id == id
        with self._writer.begin() as conn:
            row = conn.execute(sa.select(deliveries).where(where).with_for_update()).first()
            if row is None or row.status != "sending":
                return None
            entry = _entry(row)
            if entry.lease_until is not None and entry.lease_until >= now:
                return None
            fate = recover(entry.claimed_by, entry.parts_done, entry.in_flight)
            values = {
                "status": fate.status,
                "last_error": fate.note,
                "retryable": fate.status == "failed",
                "lease_until": None,
                "updated_at": _now(),
            }
            conn.execute(deliveries.update().where(where).values(values))
            return _entry(conn.execute(sa.select(deliveries).where(where)).one())

    # one sync of a project at a time

    @contextmanager
    def project_lock(self, project: str, timeout: float = 600.0) -> Iterator[None]:
        """Hold the project's sync lock: read-previous → evaluate → save → emit of two runs
        never interleave. PostgreSQL: a row lock held in an open transaction (released if the
        process dies). SQLite: an exclusive lock on a file beside the database (likewise)."""
        if self.engine.dialect.name == "postgresql":
            with self._pg_project_lock(project, timeout):
                yield
        else:
            with _file_lock(self._lock_path(project), timeout, project):
                yield

    @contextmanager
    def _pg_project_lock(self, project: str, timeout: float) -> Iterator[None]:
        with self.engine.begin() as conn:
            conn.execute(
                _insert(conn, project_locks)
                .values(project=project)
                .on_conflict_do_nothing(index_elements=["project"])
            )
        row = project_locks.c.project == project
        with self.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{max(1, int(timeout * 1000))}ms'")
            try:
                conn.execute(sa.select(project_locks.c.project).where(row).with_for_update())
            except sa.exc.OperationalError as err:
                raise ProjectBusy(project, timeout) from err
            conn.execute(
                project_locks.update().where(row).values(owner=claim_owner(), since=_now())
            )
            yield

    def _lock_path(self, project: str) -> Path | None:
        """Where a SQLite database's project locks live; None for an in-memory database."""
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        digest = hashlib.sha256(project.encode("utf-8")).hexdigest()[:16]
        return Path(database).with_name(f"{Path(database).name}.locks") / f"{digest}.lock"


_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()


@contextmanager
def _file_lock(path: Path | None, timeout: float, project: str) -> Iterator[None]:
    """An exclusive `flock` on `path` (the kernel drops it when the process dies), polled so a
    wait can give up; an in-memory database (one process) uses a thread lock instead."""
    if path is None:
        with _MEMORY_LOCKS_GUARD:
            lock = _MEMORY_LOCKS.setdefault(project, threading.Lock())
        if not lock.acquire(timeout=timeout):
            raise ProjectBusy(project, timeout)
        try:
            yield
        finally:
            lock.release()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProjectBusy(project, timeout) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _create_engine(url: str) -> Engine:
    """An engine for SQLite (folder created, foreign keys on, waits on locks) or PostgreSQL."""
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _INSERTS:
        raise ValueError(f"state store URL must be sqlite or postgresql, not {backend}")
    if backend != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    if (
        parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    """Let SQLAlchemy, not pysqlite, decide when transactions begin; enforce foreign keys."""
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


def _sqlite_begin(conn: Connection) -> None:
    """Writers take the write lock up front: a read-then-write upgrade could deadlock."""
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both backends we support."""
    return _INSERTS[conn.dialect.name](table)


def _aware(value: datetime) -> datetime:
    """Refuse naive datetimes: their instant is unknown."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetime {value.isoformat()} has no timezone")
    return value


def _at(project: str, as_of: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    return (snapshots.c.project == project, snapshots.c.as_of == _aware(as_of))


def _dumps(value: Any) -> str:
    """Strict, ASCII JSON: no NaN, and no text PostgreSQL could refuse (NUL, lone surrogates)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


_STORED = (snapshots.c.format, snapshots.c.data, snapshots.c.body_id)  # what decoding needs


def _body_texts(conn: Connection, ids: set[int]) -> dict[int, str]:
    """The stored bodies of these ids."""
    if not ids:
        return {}
    t = snapshot_bodies
    found = conn.execute(sa.select(t.c.id, t.c.format, t.c.data).where(t.c.id.in_(ids)))
    return {id: _readable(version, data) for id, version, data in found}


def _decode_row(
    row: sa.Row[Any], bodies: dict[int, Body], decode: Callable[[str], Body]
) -> Snapshot:
    """A row of format 1 is its head and a body; one of format 0 holds both in one text."""
    if row.format == 0:
        return decode_parts(row.data, decode(row.data))
    return decode_parts(_readable(row.format, row.data), bodies[row.body_id])


def _readable(version: int, data: str) -> str:
    """Refuse a format this release does not know (a newer release stored it)."""
    if version not in (0, FORMAT):
        raise ValueError(f"a snapshot is stored in format {version}, newer than this stagecast")
    return data


def _digest(encoded: EncodedSnapshot) -> str:
    """What identifies a body's content: the same content in another format is another body."""
    return hashlib.sha256(f"{FORMAT}\n{encoded.body}".encode()).hexdigest()


def _body_id(conn: Connection, project: str, digest: str, body: str) -> int:
    """The project's stored body of this digest, written first if the project has none."""
    t = snapshot_bodies
    query = sa.select(t.c.id).where(t.c.project == project, t.c.digest == digest)
    found = conn.scalar(query)
    if found is not None:
        return int(found)
    conn.execute(
        _insert(conn, t)
        .values(project=project, digest=digest, format=FORMAT, data=body)
        .on_conflict_do_nothing(index_elements=["project", "digest"])
    )
    return int(conn.execute(query).scalar_one())  # ours, or a concurrent save's of the same


def _claim_snapshot(
    conn: Connection, snapshot: Snapshot, head: str, body_id: int
) -> tuple[int, set[str]]:
    """Make sure the (project, as_of) row exists and lock it; return its id and emitted ids."""
    now = _now()
    conn.execute(
        _insert(conn, snapshots)
        .values(project=snapshot.project, as_of=_aware(snapshot.as_of), stored_at=now)
        .values(data=head, emitted="[]", format=FORMAT, body_id=body_id)
        .on_conflict_do_nothing(index_elements=["project", "as_of"])
    )
    query = sa.select(snapshots.c.id, snapshots.c.emitted).where(
        *_at(snapshot.project, snapshot.as_of)
    )
    row = conn.execute(query.with_for_update()).one()
    return row.id, set(json.loads(row.emitted))


def _replace_stages(conn: Connection, snapshot_id: int, snapshot: Snapshot) -> None:
    conn.execute(snapshot_stages.delete().where(snapshot_stages.c.snapshot_id == snapshot_id))
    rows = [
        {"snapshot_id": snapshot_id, "stage_key": s.key, "stage_name": s.name, "total": s.total}
        for s in snapshot.stages
    ]
    if rows:
        conn.execute(snapshot_stages.insert(), rows)


def _upsert_source_states(conn: Connection, project: str, states: Iterable[SourceState]) -> None:
    """Insert or replace; the last state given for a name wins."""
    latest = {s.name: s for s in states}
    if not latest:
        return
    rows = [
        dict(
            project=project,
            source=s.name,
            last_ok=s.last_ok,
            cursor=s.cursor,
            last_full=s.last_full,
        )
        for s in latest.values()
    ]
    stmt = _insert(conn, source_state).values(rows)
    changed = {c: stmt.excluded[c] for c in ("last_ok", "cursor", "last_full")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["project", "source"], set_=changed))


def _check_status(status: str) -> str:
    if status not in LEDGER_STATES:
        raise ValueError(f"{status!r} is not a ledger state: {', '.join(sorted(LEDGER_STATES))}")
    return status


def _ledger_fields(changes: dict[str, Any]) -> dict[str, Any]:
    """Only the columns a status change may touch; content goes in as JSON text."""
    unknown = changes.keys() - _UPDATABLE
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on a delivery")
    if "content" in changes:
        return {**changes, "content": _dumps(changes["content"])}
    return changes


def _row(d: LedgerEntry) -> dict[str, Any]:
    return {**asdict(d), "content": _dumps(d.content)}


def _entry(row: sa.Row[Any]) -> LedgerEntry:
    values = dict(row._mapping)
    return LedgerEntry(**{**values, "content": json.loads(values["content"])})
