"""Two-factor sign-in (TOTP): setting it up, the two-step sign-in, recovery codes, turning it off,
roles that require it, and signing decisions with a code.

The codes' clock is fixed (``twofactor_services.clock``) in the middle of a 30-second step, so a
test never straddles a step boundary; ``code(secret, k)`` is the app's code k steps later.
"""
from __future__ import annotations

import hashlib
import json
import re

import pyotp
import pytest
from sqlalchemy import func, select

import config
from reviewflow.audit.models import AuditEvent
from reviewflow.auth import twofactor_services as tf
from reviewflow.auth.twofactor import RecoveryCode, TwoFactor
from reviewflow.extensions import db
from reviewflow.reviews.models import Decision
from tests.factories import PASSWORD, make_article, make_user

T0 = 1_800_000_015.0  # 15 s into a step


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    now = {"t": T0}
    monkeypatch.setattr(tf, "clock", lambda: now["t"])
    return now


def code(secret: str, k: int = 0) -> str:
    return pyotp.TOTP(secret).at(T0 + 30 * k)


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def enrol(user) -> tuple[str, list[str]]:
    """Two-factor sign-in on for ``user`` through the services, confirmed with the code of the step
    before now (so now and the next step are still unused). Returns the key and recovery codes."""
    setting = tf.start_enrolment(user)
    secret = setting.secret
    codes = tf.confirm_enrolment(user, code(secret, -1))
    db.session.commit()
    return secret, codes


def password_step(client, user, next_url: str = ""):
    return client.post("/login" + (f"?next={next_url}" if next_url else ""),
                       data={"email": user.email, "password": PASSWORD})


# Setting it up -----------------------------------------------------------------------------------

def test_account_page_links_to_two_factor_sign_in(client, login, db):
    login(make_user("writer"))
    assert 'href="/account/two-factor"' in client.get("/account").get_data(as_text=True)


def test_setting_it_up_through_the_pages(client, login, db):
    user = make_user("writer")
    login(user)
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "Set up two-factor sign-in" in page.get_data(as_text=True)
    assert client.post("/account/two-factor/start").status_code == 303
    html = client.get("/account/two-factor").get_data(as_text=True)
    assert '<svg role="img"' in html and "QR code of your key" in html  # drawn here, inline
    shown = re.search(r'id="two-factor-key">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    assert db.session.get(TwoFactor, user.id).secret == shown
    # A wrong code turns nothing on.
    wrong = client.post("/account/two-factor/confirm", data={"code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(TwoFactor, user.id).confirmed_at is None and _events("two_factor.enabled") == []
    # The current code does; the ten recovery codes are shown this once and stored hashed.
    done = client.post("/account/two-factor/confirm", data={"code": code(shown)})
    assert done.status_code == 200
    shown_codes = re.findall(r"<li><code>([0-9a-f-]{19})</code></li>", done.get_data(as_text=True))
    assert len(shown_codes) == 10 and len(set(shown_codes)) == 10
    db.session.expire_all()
    stored = set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in shown_codes}
    assert db.session.get(TwoFactor, user.id).confirmed_at is not None
    events = _events("two_factor.enabled")
    assert len(events) == 1 and events[0].actor_id == user.id
    assert not any(c in events[0].details for c in shown_codes)
    # The codes are never shown again.
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert not any(c in again for c in shown_codes) and "Turn off two-factor sign-in" in again


# Signing in in two steps -------------------------------------------------------------------------

def test_sign_in_asks_for_the_code_and_half_way_grants_nothing(client, api, db):
    user = make_user("writer", "editor")
    secret, _ = enrol(user)
    response = password_step(client, user, next_url="/work/articles")
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    # Half-way: no page, no account, no audit event of a sign-in.
    for path in ("/dashboard", "/account", "/account/two-factor", "/work/articles", "/admin/users"):
        assert client.get(path).status_code == 302, path
    assert client.post("/logout").headers["Location"].startswith("/login")  # nobody to sign out
    assert _events("auth.login") == []
    response = client.post("/login/code", data={"code": code(secret)})
    assert response.status_code == 303 and response.headers["Location"] == "/work/articles"
    assert client.get("/dashboard").status_code == 200
    events = _events("auth.login")
    assert len(events) == 1 and json.loads(events[0].details)["second_factor"] == "totp"


def test_a_code_is_refused_when_reused_within_its_step(app, client, db):
    user = make_user("writer")
    secret, _ = enrol(user)
    password_step(client, user)
    assert client.post("/login/code", data={"code": code(secret)}).status_code == 303
    client.post("/logout")
    password_step(client, user)
    reused = client.post("/login/code", data={"code": code(secret)})
    assert reused.status_code == 400 and "used already" in reused.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    # The code of the step before, too (it is older than the last one used).
    assert client.post("/login/code", data={"code": code(secret, -1)}).status_code == 400
    assert client.post("/login/code", data={"code": code(secret, 1)}).status_code == 303


def test_a_recovery_code_signs_in_once(client, db):
    user = make_user("writer")
    _, codes = enrol(user)
    password_step(client, user)
    response = client.post("/login/code", data={"code": codes[3].upper()})
    assert response.status_code == 303
    used = _events("two_factor.recovery_code_used")
    assert len(used) == 1 and json.loads(used[0].details)["remaining"] == 9
    client.post("/logout")
    password_step(client, user)
    assert client.post("/login/code", data={"code": codes[3]}).status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_wrong_codes_wait_like_wrong_passwords(client, db):
    user = make_user("writer")
    secret, _ = enrol(user)
    password_step(client, user)
    for _ in range(5):
        assert client.post("/login/code", data={"code": "123456"}).status_code == 400
    refused = client.post("/login/code", data={"code": code(secret)})  # the right code, too soon
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "Too many wrong codes" in refused.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302
    assert len(_events("auth.code_failed")) == 5


def test_the_half_way_state_expires_and_ends_with_the_sessions(client, db, monkeypatch):
    from reviewflow.auth import twofactor_views

    user = make_user("writer")
    secret, _ = enrol(user)
    password_step(client, user)
    monkeypatch.setattr(twofactor_views, "PENDING_SECONDS", -1)
    password_step(client, user)  # already expired when written
    response = client.post("/login/code", data={"code": code(secret)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert client.get("/dashboard").status_code == 302


# Turning it off ----------------------------------------------------------------------------------

def test_turning_it_off_needs_the_password_and_a_code(client, db):
    user = make_user("writer")
    secret, _ = enrol(user)
    password_step(client, user)
    client.post("/login/code", data={"code": code(secret)})
    wrong_password = client.post("/account/two-factor/disable", data={"password": "nope-nope-nope",
                                                                      "code": code(secret, 1)})
    assert wrong_password.status_code == 400 and "password is not right" in wrong_password.get_data(as_text=True)
    wrong_code = client.post("/account/two-factor/disable", data={"password": PASSWORD, "code": "000000"})
    assert wrong_code.status_code == 400
    db.session.expire_all()
    assert db.session.get(TwoFactor, user.id) is not None and _events("two_factor.disabled") == []
    done = client.post("/account/two-factor/disable", data={"password": PASSWORD, "code": code(secret, 1)})
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(TwoFactor, user.id) is None
    assert db.session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert len(_events("two_factor.disabled")) == 1
    client.post("/logout")
    assert password_step(client, user).headers["Location"] == "/dashboard"  # one step again


# Roles that require it ---------------------------------------------------------------------------

def test_production_requires_it_of_reviewers_editors_and_admins():
    assert set(config.ProductionConfig.TWO_FACTOR_REQUIRED_ROLES) == {"reviewer", "editor", "admin"}
    assert config.TestConfig.TWO_FACTOR_REQUIRED_ROLES == () and config.Config.TWO_FACTOR_REQUIRED_ROLES == ()


def test_a_required_role_without_it_can_only_set_it_up(app, client, api, db):
    app.config["TWO_FACTOR_REQUIRED_ROLES"] = ("reviewer", "editor", "admin")
    editor = make_user("editor")
    writer = make_user("writer")
    article = make_article(writer)
    assert password_step(client, editor).status_code == 303
    for path in ("/dashboard", "/work/articles", f"/work/articles/{article.id}", "/account", "/audit"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor", path
    assert client.get("/account/two-factor").status_code == 200
    assert api(editor, "GET", f"/articles/{article.id}").status_code == 404  # the policy refuses everything
    assert api(writer, "GET", f"/articles/{article.id}").status_code == 200  # writers are not required
    client.post("/account/two-factor/start")
    secret = db.session.get(TwoFactor, editor.id).secret
    assert client.post("/account/two-factor/confirm", data={"code": code(secret)}).status_code == 200
    assert client.get("/dashboard").status_code == 200
    assert api(editor, "GET", f"/articles/{article.id}").status_code == 200


# Signing a decision with a code ------------------------------------------------------------------

@pytest.fixture
def signer(cast):
    secret, _ = enrol(cast["rev"])
    return secret


def _sign_page(client, article, password=PASSWORD, code_value=None):
    data = {"revision": "1", "password": password, "comment": "Cite a source for the timing."}
    if code_value is not None:
        data["code"] = code_value
    return client.post(f"/work/articles/{article.id}/sign?decision=request_changes", data=data)


def _decisions() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Decision)) or 0


def test_the_signing_page_asks_for_the_code(cast, signer, client, db):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    password_step(client, cast["rev"])
    client.post("/login/code", data={"code": code(signer)})
    page = client.get(f"/work/articles/{article.id}/sign?decision=request_changes").get_data(as_text=True)
    assert 'name="code"' in page
    missing = _sign_page(client, article)
    assert missing.status_code == 400 and "needs the current code" in missing.get_data(as_text=True)
    reused = _sign_page(client, article, code_value=code(signer))  # the one just used to sign in
    assert reused.status_code == 401 and "used already" in reused.get_data(as_text=True)
    failed = _events("signature.failed")
    assert len(failed) == 1 and json.loads(failed[0].details)["factor"] == "code"
    assert _decisions() == 0
    assert _sign_page(client, article, code_value=code(signer, 1)).status_code == 303
    assert _decisions() == 1


def test_the_api_takes_the_code_beside_the_password(cast, signer, api, db):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    body = {"revision": 1, "decision": "request_changes", "password": PASSWORD, "comment": "Cite a source."}
    missing = api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json=body)
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "invalid_input"
    wrong = api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json={**body, "code": "000000"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "bad_password"
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    signed = api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json={**body, "code": code(signer)})
    assert signed.status_code == 201, signed.get_json()
    assert _decisions() == 1


def test_without_two_factor_the_api_ignores_the_code(cast, api, db):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    body = {"revision": 1, "decision": "request_changes", "password": PASSWORD, "comment": "Cite a source."}
    assert api(cast["rev"], "POST", f"/articles/{article.id}/decisions", json=body).status_code == 201


def test_the_openapi_document_describes_the_optional_code(client, db):
    schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]["DecisionCreate"]
    assert "code" in schema["properties"] and "code" not in schema.get("required", [])


def test_the_half_way_state_ends_with_every_session(client, db):
    """Signing out elsewhere (or a password change, or deactivation) ends a half-way sign-in too."""
    from reviewflow.auth import services as accounts

    user = make_user("writer")
    secret, _ = enrol(user)
    password_step(client, user)
    accounts.end_sessions(user)
    db.session.commit()
    response = client.post("/login/code", data={"code": code(secret)})
    assert response.headers["Location"] == "/login"
    assert client.get("/dashboard").status_code == 302
