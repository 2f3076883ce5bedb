"""Shared fixtures: ``app``, ``db``, ``client``, ``login`` and plain factories.

The database is ``REVIEWFLOW_TEST_DATABASE_URL`` when set (PostgreSQL in CI), else a
fresh SQLite file per test. Each test starts from an empty schema built with
``create_all`` (the audit triggers and chain head are attached to it as in the migration).
"""
from __future__ import annotations

import os

import pytest
from flask import g
from sqlalchemy import text

from reviewflow import create_app
from reviewflow.extensions import db as _db
from tests.factories import PASSWORD, make_user, token_for

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = PG_URL or f"sqlite:///{tmp_path / 'test.db'}"

    class Cfg(__import__("config").TestConfig):
        SQLALCHEMY_DATABASE_URI = url

    application = create_app(Cfg)
    with application.app_context():
        if url.startswith("postgresql"):
            with _db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        _db.create_all()
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
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
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
