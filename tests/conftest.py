"""Shared fixtures: ``app``, ``db``, ``client``, ``login``, ``api``, ``cast`` and plain factories.

The database is ``REVIEWFLOW_TEST_DATABASE_URL`` when set (PostgreSQL in CI), else a SQLite file.
Its schema is built once (per pytest-xdist worker: a database of its own on PostgreSQL, named after
the worker) and each test runs inside one transaction rolled back at its end: the app's commits
become releases of SAVEPOINTs. Code that opens its own connection with ``db.engine.connect()`` to
read (the audit verification) is lent the test's connection, so it sees what the test wrote;
``db.engine.begin()`` gets a SAVEPOINT on it (the audit tests drop the guard triggers that way, and
the rollback puts them back).

A test that needs real commits, because another connection, thread or process must see its data or
it changes the schema, is marked ``@pytest.mark.real_commits``: it gets today's fresh schema (a
SQLite file of its own, or the PostgreSQL schema dropped and made again) and commits for real.
A test that commits outside the test's transaction without the marker fails at its end.
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path


def _worker_database(url: str) -> str:
    """Under pytest-xdist, a PostgreSQL database of this worker's own (``<name>_gw0``…), made when missing;
    the environment variable then names it, so every app, helper and subprocess of this worker uses it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url.startswith("postgresql") or not worker:
        return url
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = f"{parsed.database}_{worker}"
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = parsed.set(database=name).render_as_string(hide_password=False)
    os.environ["REVIEWFLOW_TEST_DATABASE_URL"] = url
    return url


# Before ``config`` is imported: its TestConfig reads the variable.
PG_URL = _worker_database(os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", ""))

import flask_sqlalchemy.session  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy import event, inspect, text  # noqa: E402
from sqlalchemy.orm import ORMExecuteState, Session  # noqa: E402

from reviewflow.extensions import db as _db  # noqa: E402
from reviewflow.public.pagecache import public_cache  # noqa: E402
from tests.factories import (  # noqa: E402
    JOIN_TEST_TRANSACTION,
    PASSWORD,
    Clock,
    empty_schema,
    make_app,
    make_user,
    token_for,
)

#: Marker: this test commits for real on a fresh schema (other connections, threads or processes see it).
REAL_COMMITS = "real_commits"


def _get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
    """Flask-SQLAlchemy's ``get_bind``, except that a session made with ``bind=`` (a test's connection)
    uses it, as a plain SQLAlchemy session does."""
    if bind is None and self.bind is not None:
        return self.bind
    return _fsa_get_bind(self, mapper, clause, bind, **kwargs)


_fsa_get_bind = flask_sqlalchemy.session.Session.get_bind
flask_sqlalchemy.session.Session.get_bind = _get_bind


@pytest.fixture(scope="session")
def _suite_database(tmp_path_factory) -> str:
    """The database the transactional tests share: the PostgreSQL one, or a SQLite file for this process."""
    return PG_URL or f"sqlite:///{tmp_path_factory.getbasetemp() / 'suite.db'}"


#: Whether this process has built the shared schema yet (a run always starts from a new one).
_BUILT: dict[str, bool] = {}
SENTINEL = "rf_test_schema_built"


def _raw(conn, sql: str) -> None:
    """``sql`` on the driver's own cursor, unseen by ``before_cursor_execute`` listeners."""
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def _transactional_engine(engine) -> None:
    """Make the per-test engine fit a test inside one transaction.

    SQLite: pysqlite's own transaction handling breaks SAVEPOINT, so it is left off and BEGIN is
    emitted here (SQLAlchemy's documented recipe, "Serializable isolation / Savepoints / Transactional
    DDL"). Both databases: BEGIN and the SAVEPOINT statements that stand for the app's transactions go
    straight to the driver, so tests that count statements see what production sends (its COMMITs are
    not statements either).
    """
    dialect = engine.dialect
    dialect.do_savepoint = lambda conn, name: _raw(conn, f"SAVEPOINT {name}")
    dialect.do_release_savepoint = lambda conn, name: _raw(conn, f"RELEASE SAVEPOINT {name}")
    dialect.do_rollback_to_savepoint = lambda conn, name: _raw(conn, f"ROLLBACK TO SAVEPOINT {name}")
    if dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _autocommit_driver(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        _raw(conn, "BEGIN")


def _schema_is_ready(engine, url: str) -> bool:
    """The shared schema is there and untouched: built by this process, and its sentinel table not
    dropped since (a ``real_commits`` test or a module's own fixture drops the PostgreSQL schema)."""
    if not _BUILT.get(url):
        return False
    with engine.connect() as conn:
        return inspect(conn).has_table(SENTINEL)


def _build_schema(engine, url: str) -> None:
    empty_schema()
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {SENTINEL} (id INTEGER)"))
    _BUILT[url] = True


def _left_behind(conn) -> str:
    """What a test committed outside its transaction, found once that transaction is rolled back: the
    audit chain moved, or people or articles are stored (every write of the app is audited; the
    counts catch rows written around the services too)."""
    seq, users, articles = conn.execute(text(
        "SELECT (SELECT seq FROM audit_head WHERE id = 1), (SELECT count(*) FROM users),"
        " (SELECT count(*) FROM articles)")).one()
    if seq == 0 and users == 0 and articles == 0:
        return ""
    return f"the audit chain head is at {seq}; {users} people and {articles} articles are stored"


class _LentConnection:
    """The test's connection, lent to code that opens one of its own with ``db.engine.connect()``:
    it reads in the test's transaction, and its ``close`` (the end of its ``with``) leaves it open."""

    def __init__(self, conn, options: dict | None = None) -> None:
        self._conn = conn
        self._options = options or {}

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def execution_options(self, **options) -> _LentConnection:
        """The options for this borrower's statements only: on the shared connection they would stay, and
        ``yield_per`` there makes every later statement, INSERTs too, a server-side cursor on PostgreSQL.
        Streaming is left out: the borrower reads on the test's one connection, where an open server-side
        cursor, closed by the garbage collector in the middle of another statement, deadlocks the driver's
        connection lock; the rows are the same, fetched at once."""
        options = {k: v for k, v in options.items() if k not in ("yield_per", "stream_results", "max_row_buffer")}
        return _LentConnection(self._conn, {**self._options, **options})

    def execute(self, statement, parameters=None, *, execution_options=None):
        return self._conn.execute(statement, parameters, execution_options={**self._options,
                                                                             **(execution_options or {})})

    def scalar(self, statement, parameters=None, *, execution_options=None):
        return self.execute(statement, parameters, execution_options=execution_options).scalar()

    def scalars(self, statement, parameters=None, *, execution_options=None):
        return self.execute(statement, parameters, execution_options=execution_options).scalars()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None

    def _refuse(self, *args, **kwargs):
        raise RuntimeError("this code commits on a connection of its own; mark the test "
                           f"@pytest.mark.{REAL_COMMITS}")

    begin = commit = rollback = _refuse


class _LentTransaction:
    """``with db.engine.begin() as conn`` on the test's connection: a SAVEPOINT released at the end of
    the block (rolled back on an error), so what the block did, DDL too, is undone with the test."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def __enter__(self):
        self._savepoint = self._conn.begin_nested()
        return _LentConnection(self._conn)

    def __exit__(self, exc_type, *_exc) -> None:
        savepoint = self._savepoint
        # When the session began a SAVEPOINT of its own inside this one (it reloaded an expired object in
        # the block), releasing this one would release the session's too: both are left to the session
        # and the test's rollback.
        if savepoint.is_active and self._conn.get_nested_transaction() is savepoint:
            (savepoint.rollback if exc_type else savepoint.commit)()


def _lend(engine, connection) -> None:
    """``engine.connect()`` and ``engine.begin()`` on the test's connection (see ``_LentConnection``)."""
    engine.connect = lambda: _LentConnection(connection)
    engine.begin = lambda: _LentTransaction(connection)


def _buffer_driver_streams(engine) -> pytest.MonkeyPatch:
    """On PostgreSQL, psycopg's ``cursor.stream()`` reads the whole result at once in a transactional test.

    A stream holds the driver connection's lock until it ends; code that reads on a second connection
    meanwhile (``audit.verify`` works out why an event is bad while its range streams) is lent the
    test's one connection and would wait on that lock for ever. The rows are the same, fetched at once."""
    patch = pytest.MonkeyPatch()
    if engine.dialect.name == "postgresql":
        import psycopg

        def _buffered(self, query, params=None, **_kw):
            yield from self.execute(query, params).fetchall()

        patch.setattr(psycopg.Cursor, "stream", _buffered)
    return patch


@pytest.fixture
def app(request, tmp_path):
    """The app inside an app context, its session joined to one transaction rolled back at the end
    (``@pytest.mark.real_commits``: a fresh schema and real commits instead)."""
    if request.node.get_closest_marker(REAL_COMMITS):
        application = make_app(PG_URL or f"sqlite:///{tmp_path / 'test.db'}")
        with application.app_context():
            empty_schema()
            yield application
            _db.session.remove()
            _db.engine.dispose()
        return

    url = request.getfixturevalue("_suite_database")
    application = make_app(url)
    with application.app_context():
        engine = _db.engine
        _transactional_engine(engine)
        if not _schema_is_ready(engine, url):
            _build_schema(engine, url)
        connection = engine.connect()
        outer = connection.begin()
        factory = _db.session.session_factory
        options = dict(factory.kw)
        factory.configure(bind=connection, join_transaction_mode="create_savepoint")
        _db.session.remove()
        _lend(engine, connection)
        JOIN_TEST_TRANSACTION[url] = lambda other: _lend(other, connection)
        stream = _buffer_driver_streams(engine)
        try:
            yield application
        finally:
            stream.undo()
            JOIN_TEST_TRANSACTION.pop(url, None)
            del engine.connect, engine.begin
            try:
                _db.session.remove()
            finally:
                factory.kw.clear()
                factory.kw.update(options)
                try:
                    outer.rollback()
                except Exception:
                    connection.invalidate()
                finally:
                    connection.close()
            with engine.connect() as conn:
                leak = _left_behind(conn)
            if leak:
                _BUILT[url] = False  # the next test builds the schema again
            engine.dispose()
    if leak:
        pytest.fail(f"this test committed outside its transaction ({leak}): mark it "
                    f"@pytest.mark.{REAL_COMMITS}", pytrace=False)


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client):
    """``login(user)`` signs the test client in through the real log-in form."""

    def _login(user, password: str = PASSWORD):
        response = client.post("/login", data={"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return client

    return _login


@pytest.fixture
def api(client):
    """``api(user, method, path, json=None)`` calls the JSON API with a fresh token for ``user``."""
    tokens: dict[int, str] = {}

    def _call(user, method: str, path: str, json=None, **kw):
        if user is not None and user.id not in tokens:
            tokens[user.id] = token_for(user)
        headers = {"Authorization": f"Bearer {tokens[user.id]}"} if user is not None else {}
        return client.open("/api/v1" + path, method=method, json=json, headers=headers, **kw)

    return _call


@pytest.fixture
def cast(db):
    """A writer, an editor, an admin, two reviewers (one a dermatologist) and an expired reviewer."""
    return {
        "writer": make_user("writer", name="Wren Alder"),
        "writer2": make_user("writer", name="Tove Brandt"),
        "editor": make_user("editor", name="Eddie Marsh"),
        "admin": make_user("admin", name="Ada Admin"),
        "rev": make_user("reviewer", name="Dana Okafor", credentials="M.D., Ph.D.", specialty="Dermatology"),
        "rev2": make_user("reviewer", name="Ravi Senn", credentials="PharmD", specialty="Pharmacology"),
        "expired": make_user("reviewer", name="Old Licence", credentials="R.N.", specialty="Dermatology",
                             license_expires="2020-01-01"),
    }


@pytest.fixture
def public_clock(app) -> Clock:
    """The app's own cache of public pages (the one the fast path and the views share) on a clock the
    test moves: ``public_clock.now += app.config["PUBLIC_CACHE_SECONDS"]`` instead of sleeping."""
    tick = Clock()
    public_cache(app).clock = tick
    return tick


def pytest_report_header(config):
    """Say which database the suite runs on, so a CI log shows both runs really happened."""
    if PG_URL:
        return f"reviewflow test database: PostgreSQL ({PG_URL.rsplit('@', 1)[-1]}; a database per xdist worker)"
    return "reviewflow test database: SQLite (a file per xdist worker; real_commits tests: a file each)"


@pytest.fixture
def is_postgres(app) -> bool:
    """True when the suite runs on PostgreSQL (REVIEWFLOW_TEST_DATABASE_URL)."""
    return _db.engine.dialect.name == "postgresql"


# N+1 guard ---------------------------------------------------------------------------------

#: Marker for a test that legitimately needs an ORM lazy load (they fail the test otherwise).
ALLOW_LAZY_LOAD = "allow_lazy_load"
ROOT = Path(__file__).resolve().parent.parent
_OWN_CODE = (str(ROOT / "reviewflow"), str(ROOT / "templates"), str(ROOT / "tests"))
#: ``InstanceState.info`` key: relationships a commit, rollback or ``expire()`` dropped from the object.
_DROPPED = "tests.dropped_relationships"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{ALLOW_LAZY_LOAD}: let ORM lazy loads emit SQL in this test")
    config.addinivalue_line("markers", f"{REAL_COMMITS}: a fresh schema and real commits, not a rolled-back "
                                       "transaction (for tests whose data another connection, thread or process reads)")


def _note_dropped(state, attrs) -> None:
    """``expire`` event: remember which relationships were dropped, so reading one again may reload it."""
    relationships = state.mapper.relationships
    keys = relationships.keys() if attrs is None else [k for k in attrs if k in relationships]
    state.info.setdefault(_DROPPED, set()).update(keys)


def _note_reloaded(state, context, attrs) -> None:
    """``refresh`` event: the object came back as a row of a query, whose loaders ran, so nothing is
    dropped any more. A refresh in place (reading an expired column, ``Session.get`` or ``refresh()``)
    is a one-off: the relationships it covers load for this one object (SQLAlchemy re-applies the
    loaders of the object's first query one object at a time, through the lazy loader), so they count
    as dropped."""
    if getattr(context, "refresh_state", None) is None:  # context: None when no query loaded it
        if attrs is None:
            state.info.pop(_DROPPED, None)
        return
    relationships = state.mapper.relationships
    keys = relationships.keys() if attrs is None else [k for k in attrs if k in relationships]
    state.info.setdefault(_DROPPED, set()).update(keys)


def _note_loaded(state, context) -> None:
    """``load`` event: an object first loaded by a refresh in place of another (its many-to-one, joined
    in that refresh) is a one-off too; its relationships load for it alone."""
    if getattr(context, "refresh_state", None) is not None:
        state.info.setdefault(_DROPPED, set()).update(state.mapper.relationships.keys())


def _code_path() -> str:
    """The project's own frames, innermost first: the three innermost, the templates passed through
    (by template line) and the outermost (the test). WSGI middleware frames are left out."""
    steps: list[tuple[str, bool]] = []
    for frame, lineno in traceback.walk_stack(None):
        filename = frame.f_code.co_filename
        if filename.startswith(_OWN_CODE) and frame.f_code.co_name != "__call__":
            template = frame.f_globals.get("__jinja_template__")
            line = template.get_corresponding_lineno(lineno) if template else lineno
            where = f"{os.path.relpath(filename, ROOT)}:{line}"
            steps.append((where if template else f"{where} in {frame.f_code.co_name}", template is not None))
    picked = steps[:3] + [step for step in steps[3:] if step[1]][:2] + steps[-1:]
    return " <- ".join(dict.fromkeys(where for where, _ in picked)) or "(no reviewflow frame)"


def _refuse_lazy_load(state: ORMExecuteState) -> None:
    """``do_orm_execute`` hook: reading a relationship that the query which loaded the object left
    unloaded, when that emits SQL, fails the test and names the relationship and the code path.

    Passed: loads for objects this session created (never loaded), and reloads of relationships a
    commit, rollback or ``expire()`` dropped: one-offs, not a query's rows read one by one. The
    failure is pytest's own, not an ``Exception``, so the app's catch-all handler cannot turn it into
    a quiet 500: the test fails where the load happened.
    """
    if not state.is_select or not state.is_relationship_load or state.lazy_loaded_from is None:
        return
    owner = state.lazy_loaded_from
    prop = state.loader_strategy_path.path[-1]
    if owner.runid is None or prop.key in owner.info.get(_DROPPED, ()):
        return
    pytest.fail(f"N+1 guard: lazy load of {prop.parent.class_.__name__}.{prop.key} emitted SQL "
                f"(for {owner.class_.__name__} {owner.identity}) at {_code_path()}. Load it in the query "
                f"(joinedload/selectinload), or mark the test {ALLOW_LAZY_LOAD} if it must load lazily.",
                pytrace=False)


_GUARD = [(Session, "do_orm_execute", _refuse_lazy_load), (_db.Model, "expire", _note_dropped),
          (_db.Model, "refresh", _note_reloaded), (_db.Model, "load", _note_loaded)]


@pytest.fixture(autouse=True)
def _lazy_loads_fail(request):
    """An ORM lazy load that emits SQL fails the test (opt out with ``@pytest.mark.allow_lazy_load``).

    Lists and pages load what they show in a fixed number of queries; a relationship read row by
    row is the N+1 that slows a page only once the data grows, so tests catch it on small data.
    """
    if request.node.get_closest_marker(ALLOW_LAZY_LOAD):
        yield
        return
    for target, name, fn in _GUARD:
        event.listen(target, name, fn, **({"propagate": True, "raw": True} if target is _db.Model else {}))
    try:
        yield
    finally:
        for target, name, fn in _GUARD:
            event.remove(target, name, fn)
