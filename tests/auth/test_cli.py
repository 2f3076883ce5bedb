"""The command line of PRODUCT.md: create-user, create-token, seed-demo and audit verify."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from reviewflow.articles.models import Article, Revision
from reviewflow.audit.models import AuditEvent
from reviewflow.auth.models import ApiToken, User
from reviewflow.auth.services import find_user
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews.models import Decision
from tests.factories import PASSWORD, make_user


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def _invoke(*args: str):
        return runner.invoke(args=list(args), catch_exceptions=False)

    return _invoke


def test_create_user_writer(cli, db):
    result = cli("create-user", "--email", "New.Writer@example.org", "--name", "Nell Writer",
                 "--password", PASSWORD, "--role", "writer")
    assert result.exit_code == 0, result.output
    assert "new.writer@example.org" in result.output
    user = find_user("new.writer@example.org")
    assert user is not None and user.roles == ["writer"] and user.profile is None
    assert user.password_hash != PASSWORD and user.password_hash.startswith("$argon2id$")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.created"))
    assert event.actor_role == "system" and PASSWORD not in event.details


def test_create_user_reviewer_with_credentials(cli, db):
    result = cli("create-user", "--email", "rev@example.org", "--name", "Rhea Voss", "--password", PASSWORD,
                 "--role", "reviewer", "--role", "editor", "--credentials", "M.D., Ph.D.",
                 "--specialty", "Cardiology", "--license-number", "GA-12345", "--license-expires", "2031-06-30",
                 "--affiliation", "Harbor Heart Institute", "--organization", "Northwind Review Network",
                 "--bio", "Cardiologist.")
    assert result.exit_code == 0, result.output
    user = find_user("rev@example.org")
    assert user.roles == ["editor", "reviewer"]
    profile = user.profile
    assert profile.credentials == "M.D., Ph.D." and profile.specialty == "Cardiology"
    assert profile.license_number == "GA-12345" and profile.license_expires == date(2031, 6, 30)
    assert profile.affiliation == "Harbor Heart Institute" and profile.organization == "Northwind Review Network"
    assert user.display_name == "Rhea Voss, M.D., Ph.D."


@pytest.mark.parametrize("args, message", [
    (["--password", "short", "--role", "writer"], "12"),
    (["--password", PASSWORD, "--role", "reviewer"], "required"),  # a reviewer needs credentials
    (["--password", PASSWORD, "--role", "reviewer", "--credentials", "M.D.", "--specialty", "X",
      "--license-number", "L1", "--license-expires", "soon"], "YYYY-MM-DD"),
])
def test_create_user_refuses_bad_input(cli, db, args, message):
    result = cli("create-user", "--email", "bad@example.org", "--name", "Bad Input", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert find_user("bad@example.org") is None


@pytest.mark.parametrize("name, extra", [
    ("Bad\x1b[31m Input", ["--role", "writer"]),
    ("Bad\nInput", ["--role", "writer"]),
    ("Bad Input", ["--role", "reviewer", "--credentials", "M.D.\x07", "--specialty", "Cardiology",
                   "--license-number", "L1", "--license-expires", "2031-06-30"]),
])
def test_create_user_refuses_control_characters_in_one_line_fields(cli, db, name, extra):
    result = cli("create-user", "--email", "bad@example.org", "--name", name, "--password", PASSWORD, *extra)
    assert result.exit_code != 0
    assert "control characters" in result.output
    assert find_user("bad@example.org") is None


def test_create_user_refuses_unknown_role(cli, db):
    result = cli("create-user", "--email", "x@example.org", "--name", "X", "--password", PASSWORD,
                 "--role", "superuser")
    assert result.exit_code != 0
    assert find_user("x@example.org") is None


def test_create_user_refuses_a_duplicate_email(cli, db):
    make_user("writer", email="taken@example.org")
    result = cli("create-user", "--email", "TAKEN@example.org", "--name", "Again", "--password", PASSWORD,
                 "--role", "writer")
    assert result.exit_code != 0 and "already exists" in result.output
    assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "taken@example.org")) == 1


def test_create_token_prints_a_working_token_as_last_line(cli, client, db):
    user = make_user("writer", email="tok@example.org")
    result = cli("create-token", "--email", "tok@example.org")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1].strip()
    assert " " not in token and len(token) >= 32
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"id": user.id, "email": "tok@example.org", "name": user.name,
                                   "roles": ["writer"]}
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.token_hash != token and token not in stored.token_hash  # only a hash is kept


def test_create_token_for_unknown_email_fails(cli, db):
    result = cli("create-token", "--email", "ghost@example.org")
    assert result.exit_code != 0
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def _totals(db) -> dict:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (User, Article, Revision, Decision, PublishedVersion)}


@pytest.mark.allow_lazy_load  # the demo is walked through the services with people loaded one by one
def test_seed_demo_twice_does_not_duplicate_anything(cli, db):
    """One test, because seeding walks nine articles through the workflow and takes seconds."""
    first = cli("seed-demo")
    assert first.exit_code == 0, first.output
    after_first = _totals(db)
    assert after_first["User"] >= 9 and after_first["Article"] >= 1

    users = list(db.session.scalars(select(User)))
    by_role = {r: [u for u in users if u.has_role(r)] for r in ("writer", "reviewer", "editor", "admin")}
    assert len(by_role["writer"]) >= 2 and len(by_role["reviewer"]) >= 4
    assert len(by_role["editor"]) >= 2 and len(by_role["admin"]) >= 1
    assert len({u.profile.specialty for u in by_role["reviewer"]}) >= 4
    assert any(u.profile.license_expires < date.today() for u in by_role["reviewer"])

    second = cli("seed-demo")
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert _totals(db) == after_first
    emails = list(db.session.scalars(select(User.email)))
    assert len(emails) == len(set(emails))
    titles = list(db.session.scalars(select(Article.title)))
    assert len(titles) == len(set(titles))

    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].strip() == str(count)


def test_audit_verify_exits_zero_and_prints_the_count(cli, db):
    make_user("writer")
    make_user("editor")
    count = db.session.scalar(select(func.count()).select_from(AuditEvent))
    assert count >= 2
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].strip() == str(count)


def test_audit_verify_on_an_empty_chain(cli, db):
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].strip() == "0"
