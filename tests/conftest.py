"""Shared fixtures: ``app``, ``db``, ``client``, ``login`` and plain factories.

The database is ``REVIEWFLOW_TEST_DATABASE_URL`` when set (PostgreSQL in CI), else a
fresh SQLite file per test. Each test starts from an empty schema built with
``create_all`` (the audit triggers and chain head are attached to it as in the migration).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from reviewflow import create_app
from reviewflow.extensions import db as _db
from tests.factories import PASSWORD, empty_schema, make_user, token_for

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = PG_URL or f"sqlite:///{tmp_path / 'test.db'}"

    class Cfg(__import__("config").TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    application = create_app(Cfg)
    with application.app_context():
        empty_schema()
        yield application
        _db.session.remove()
        _db.engine.dispose()


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


def pytest_report_header(config):
    """Say which database the suite runs on, so a CI log shows both runs really happened."""
    if PG_URL:
        return f"reviewflow test database: PostgreSQL ({PG_URL.rsplit('@', 1)[-1]})"
    return "reviewflow test database: SQLite (a fresh file per test)"


@pytest.fixture
def is_postgres(app) -> bool:
    """True when the suite runs on PostgreSQL (REVIEWFLOW_TEST_DATABASE_URL)."""
    return _db.engine.dialect.name == "postgresql"


@pytest.fixture(autouse=True)
def _each_request_loads_its_own_user(request):
    """Authenticate every test request from its own cookie, as in production.

    The ``app`` fixture keeps one app context open for the whole test, and requests made
    inside it share that context's ``g``, where Flask-Login caches the signed-in user. Without
    this, a second client (or a copied cookie, or a deactivated account) would silently act
    as whoever signed in last. Only tests that use ``app`` are touched.
    """
    if "app" in request.fixturenames:
        application = request.getfixturevalue("app")

        def _forget_cached_user() -> None:
            g.pop("_login_user", None)

        application.before_request_funcs.setdefault(None, []).insert(0, _forget_cached_user)
    yield


# N+1 guard ---------------------------------------------------------------------------------

#: Marker for a test that legitimately needs an ORM lazy load (they fail the test otherwise).
ALLOW_LAZY_LOAD = "allow_lazy_load"
ROOT = Path(__file__).resolve().parent.parent
_OWN_CODE = (str(ROOT / "reviewflow"), str(ROOT / "templates"), str(ROOT / "tests"))
#: ``InstanceState.info`` key: relationships a commit, rollback or ``expire()`` dropped from the object.
_DROPPED = "tests.dropped_relationships"


def pytest_configure(config):
    config.addinivalue_line("markers", f"{ALLOW_LAZY_LOAD}: let ORM lazy loads emit SQL in this test")


def _note_dropped(state, attrs) -> None:
    """``expire`` event: remember which relationships were dropped, so reading one again may reload it."""
    relationships = state.mapper.relationships
    keys = relationships.keys() if attrs is None else [k for k in attrs if k in relationships]
    state.info.setdefault(_DROPPED, set()).update(keys)


def _note_reloaded(state, context, attrs) -> None:
    """``refresh`` event: the object came back as a row of a query, whose loaders ran, so nothing is
    dropped any more. A refresh in place (reading an expired column, ``Session.get`` or ``refresh()``)
    reloads the columns only and leaves the relationships unloaded."""
    if attrs is None and context.refresh_state is None:
        state.info.pop(_DROPPED, None)


def _read_through_attribute(frame) -> bool:
    """True when the lazy load runs because code read the attribute, as an N+1 does row after row.

    False when an eager loader re-applies itself, one object at a time, while an expired object is
    refreshed: SQLAlchemy routes that through the lazy loader too.
    """
    while frame is not None and "sqlalchemy" in frame.f_code.co_filename:
        if frame.f_code.co_name == "_load_for_state":
            return frame.f_back is not None and frame.f_back.f_code.co_name == "_fire_loader_callables"
        frame = frame.f_back
    return True


def _code_path(frame) -> str:
    """The project's own frames, innermost first: the three innermost, the templates passed through
    (by template line) and the outermost (the test). WSGI middleware frames are left out."""
    steps: list[tuple[str, bool]] = []
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_OWN_CODE) and frame.f_code.co_name != "__call__":
            template = frame.f_globals.get("__jinja_template__")
            line = template.get_corresponding_lineno(frame.f_lineno) if template else frame.f_lineno
            where = f"{os.path.relpath(filename, ROOT)}:{line}"
            steps.append((where if template else f"{where} in {frame.f_code.co_name}", template is not None))
        frame = frame.f_back
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
    if not state.is_select or state.lazy_loaded_from is None:
        return
    owner = state.lazy_loaded_from
    prop = state.loader_strategy_path.path[-1]
    if owner.runid is None or prop.key in owner.info.get(_DROPPED, ()):
        return
    frame = sys._getframe(1)
    if not _read_through_attribute(frame):
        return
    pytest.fail(f"N+1 guard: lazy load of {prop.parent.class_.__name__}.{prop.key} emitted SQL "
                f"(for {owner.class_.__name__} {owner.identity}) at {_code_path(frame)}. Load it in the query "
                f"(joinedload/selectinload), or mark the test {ALLOW_LAZY_LOAD} if it must load lazily.",
                pytrace=False)


_GUARD = [(Session, "do_orm_execute", _refuse_lazy_load), (_db.Model, "expire", _note_dropped),
          (_db.Model, "refresh", _note_reloaded)]


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
