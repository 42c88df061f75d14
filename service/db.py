"""Engine, sessions and migrations.  SQLite (WAL) by default; ``DATABASE_URL`` selects PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK, BOOTSTRAP_LOCK = 7261983451, 7261983452


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # hide_parameters: an error's message never quotes stored values (comments, buyer e-mails) into logs.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A bounded connect: an unreachable server fails in seconds (answered 503), never hangs a worker thread.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10,
                         hide_parameters=True, connect_args={"connect_timeout": 5})


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent; safe with several replicas)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        # Replicas (or `serve --workers N`) starting together migrate one at a time; the lock ends with
        # the transaction.  Without it two processes both create alembic_version on a new SQLite file.
        _take_turns(conn, MIGRATION_LOCK)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def take_turns(session: Session, lock_id: int) -> None:
    """Hold a lock until the transaction ends, so replicas run a check-then-insert one at a time.

    Call it first in the transaction.  PostgreSQL: a transaction-scoped advisory lock.  SQLite: its one
    write lock, taken now (Python's sqlite3 would otherwise begin only at the insert, after the check).
    """
    _take_turns(session.connection(), lock_id)


def _take_turns(conn: Connection, lock_id: int) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})
    elif conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached moments ago; it is not tried again before the cool-down ends."""


class Breaker:
    """Once the database cannot be reached (a refused or timed-out connect, a dropped connection), requests
    stop waiting on it for ``cooldown`` seconds and answer 503 at once, so a hung database cannot tie up
    every worker thread (suggestions, which need no database, share those threads).  Then it is tried again."""

    def __init__(self, cooldown: float) -> None:
        self.cooldown = cooldown
        self.open_until = 0.0

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.cooldown

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def watch(self, engine: Engine) -> None:
        """Trip on the engine's connection failures: a connect that fails, or a connection lost mid-query.
        Not on a stale pooled connection that the pre-ping replaces, nor on errors of a query on a working
        connection (a SQLite lock timeout, a constraint)."""

        @event.listens_for(engine, "handle_error")
        def _unreachable(context: ExceptionContext) -> None:
            if not context.is_pre_ping and (context.is_disconnect or context.connection is None):
                self.trip()


class GuardedSessions:
    """The session factory, refusing at once (DatabaseUnavailable) while the breaker is open."""

    def __init__(self, factory: Callable[[], Session], breaker: Breaker) -> None:
        self.factory = factory
        self.breaker = breaker

    def __call__(self) -> Session:
        if self.breaker.is_open:
            raise DatabaseUnavailable("the database could not be reached a moment ago")
        return self.factory()


@contextmanager
def transaction(factory: Callable[[], Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back (storing nothing) on any error."""
    with factory() as session, session.begin():
        yield session
