"""Opening the database and bringing its schema to head with Alembic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
SUPPORTED = ("sqlite+aiosqlite", "postgresql+asyncpg")
# Two replicas starting at once must not both migrate: PostgreSQL serialises on this lock.
MIGRATION_LOCK = 0x426C6F63


def check_url(url: str) -> str | None:
    """Why `url` cannot be used, or None when it can."""
    scheme = url.split("://", 1)[0]
    if scheme not in SUPPORTED:
        return (
            f"DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://, "
            f"got {scheme}://"
        )
    if scheme == "postgresql+asyncpg" and "sslmode=" in url.partition("?")[2]:
        return (
            "DATABASE_URL: asyncpg takes ?ssl=require (or verify-full), not libpq's sslmode=; "
            "Azure Database for PostgreSQL needs ?ssl=require"
        )
    return None


def open_engine(url: str, **options: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **options)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return _translated(engine)
    return _translated(create_async_engine(url, pool_pre_ping=True, **options))


def _unreachable(err: BaseException) -> bool:
    """Whether `err` says the database cannot be reached (refused, reset, timed out, gone)."""
    seen: BaseException | None = err
    while seen is not None:
        name = type(seen).__name__
        if isinstance(seen, OSError | TimeoutError) or name in _CONNECTION_ERRORS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# asyncpg's and the DBAPI's names for a connection that failed or went away.
_CONNECTION_ERRORS = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "CannotConnectNowError",
        "PostgresConnectionError",
        "AdminShutdownError",
        "ConnectionRefusedError",
    }
)


def _translated(engine: AsyncEngine) -> AsyncEngine:
    """`engine`, raising DatabaseUnavailable (a BlockWatchError: "cannot reach its database")
    when a connection cannot be made or breaks, instead of a driver's exception."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception as err:
            if _unreachable(err):
                raise DatabaseUnavailable(f"cannot connect: {type(err).__name__}") from err
            raise

    @event.listens_for(engine.sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        error = context.original_exception
        if context.is_pre_ping:  # the pool replaces a connection that went away by itself
            return
        if context.is_disconnect or _unreachable(error):
            raise DatabaseUnavailable(f"the connection failed: {type(error).__name__}") from error

    return engine


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    command.upgrade(_config(connection), revision)


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply migrations up to `revision` (idempotent; safe with several replicas)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head
