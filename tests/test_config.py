"""Configuration: production refuses weak secrets, cookies are locked down, SQLite is set up safely."""
from __future__ import annotations

import pytest
from sqlalchemy import text

import config
from reviewflow import create_app
from reviewflow.extensions import db
from tests.factories import PASSWORD, make_app, make_user

REAL_SECRET = "a-real-secret-key-for-production-0123456789"
REAL_AUDIT_KEY = "a-real-audit-key-kept-outside-the-database"


@pytest.fixture
def prod_env(monkeypatch):
    """Production secrets set; each test removes or weakens the one it is about."""
    monkeypatch.setenv("REVIEWFLOW_SECRET_KEY", REAL_SECRET)
    monkeypatch.setenv("REVIEWFLOW_AUDIT_KEY", REAL_AUDIT_KEY)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key(prod_env):
    prod_env.delenv("REVIEWFLOW_SECRET_KEY")
    with pytest.raises(RuntimeError, match="REVIEWFLOW_SECRET_KEY"):
        create_app("production")


def test_production_refuses_an_empty_secret_key(prod_env):
    prod_env.setenv("REVIEWFLOW_SECRET_KEY", "")
    with pytest.raises(RuntimeError, match="REVIEWFLOW_SECRET_KEY"):
        create_app("production")


def test_production_refuses_the_development_key(prod_env):
    prod_env.setenv("REVIEWFLOW_SECRET_KEY", config.DEV_SECRET)
    with pytest.raises(RuntimeError, match="REVIEWFLOW_SECRET_KEY"):
        create_app("production")


def test_production_refuses_a_short_key(prod_env):
    prod_env.setenv("REVIEWFLOW_SECRET_KEY", "short")
    with pytest.raises(RuntimeError, match="REVIEWFLOW_SECRET_KEY"):
        create_app("production")


@pytest.mark.parametrize("name", ["REVIEWFLOW_SECRET_KEY", "REVIEWFLOW_AUDIT_KEY"])
@pytest.mark.parametrize("value", ["k", "x" * 31, "é" * 15])
def test_production_refuses_keys_shorter_than_32_bytes(prod_env, name, value):
    """The review found a one-character audit key accepted: 32 bytes (256 bits) is the floor."""
    prod_env.setenv(name, value)
    with pytest.raises(RuntimeError, match=f"{name} must be set to a random secret of at least 32 bytes"):
        create_app("production")


def test_production_starts_with_32_byte_keys(prod_env):
    prod_env.setenv("REVIEWFLOW_SECRET_KEY", "s" * 32)
    prod_env.setenv("REVIEWFLOW_AUDIT_KEY", "é" * 16)  # 32 bytes in UTF-8
    assert create_app("production").config["NAME"] == "production"


def test_production_refuses_to_start_without_audit_key(prod_env):
    prod_env.delenv("REVIEWFLOW_AUDIT_KEY")
    with pytest.raises(RuntimeError, match="REVIEWFLOW_AUDIT_KEY"):
        create_app("production")


def test_production_refuses_the_development_audit_key(prod_env):
    prod_env.setenv("REVIEWFLOW_AUDIT_KEY", config.DEV_AUDIT_KEY)
    with pytest.raises(RuntimeError, match="REVIEWFLOW_AUDIT_KEY"):
        create_app("production")


def test_production_starts_with_real_secrets_and_secure_cookies(prod_env):
    app = create_app("production")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not app.config["TESTING"]


def test_unknown_configuration_name_is_refused():
    with pytest.raises(RuntimeError, match="unknown REVIEWFLOW_CONFIG"):
        create_app("staging")


def _session_cookie_header(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_httponly_and_samesite_lax(client, db):
    user = make_user("writer")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 303
    cookie = _session_cookie_header(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run over plain http


def test_production_session_cookie_is_secure(prod_env, tmp_path):
    """The real production class, over a test database, sets Secure on the cookie it sends."""
    url = f"sqlite:///{tmp_path / 'prod.db'}"

    app = make_app(url, base=config.ProductionConfig, WTF_CSRF_ENABLED=False, FAST_PASSWORD_HASHING=True)
    with app.app_context():
        db.create_all()
        user = make_user("editor")
        response = app.test_client().post("/login", data={"email": user.email, "password": PASSWORD},
                                          base_url="https://localhost")
        assert response.status_code == 303
        cookie = _session_cookie_header(response)
        db.session.remove()
        db.engine.dispose()
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_request_body_limit_is_one_mebibyte(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_sqlite_runs_with_foreign_keys_and_wal(app, is_postgres):
    if is_postgres:
        pytest.skip("SQLite pragmas: this run is on PostgreSQL")
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar().lower() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_sqlite_foreign_keys_are_enforced(app, is_postgres):
    if is_postgres:
        pytest.skip("SQLite pragmas: this run is on PostgreSQL")
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        conn.execute(text("INSERT INTO user_roles (user_id, role) VALUES (987654, 'writer')"))


# Strict-Transport-Security --------------------------------------------------------------------

HSTS = "max-age=31536000; includeSubDomains"


def _prod_app(tmp_path, public_url=None):
    class Prod(config.ProductionConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'prod.db'}"
        PUBLIC_URL = public_url

    return create_app(Prod)


@pytest.mark.parametrize("public_url", [None, "https://health.example.org"])
def test_production_sends_hsts(prod_env, tmp_path, public_url):
    app = _prod_app(tmp_path, public_url)
    with app.app_context():
        db.create_all()
        for path in ("/login", "/articles", "/api/v1/openapi.json", "/no-such-page"):
            response = app.test_client().get(path, base_url="https://localhost")
            assert response.headers.get("Strict-Transport-Security") == HSTS, path
        db.session.remove()
        db.engine.dispose()


def test_no_hsts_when_the_public_address_is_plain_http(prod_env, tmp_path):
    app = _prod_app(tmp_path, "http://127.0.0.1:8000")
    with app.app_context():
        db.create_all()
        assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
        db.session.remove()
        db.engine.dispose()


def test_no_hsts_in_development_and_tests(client, db):
    assert "Strict-Transport-Security" not in client.get("/login").headers
