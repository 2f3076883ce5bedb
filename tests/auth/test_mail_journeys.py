"""Invitation and password reset end to end over real SMTP: the mail goes through the outbox and
``flask send-mail`` to aiosmtpd on a loopback port; the test reads the link out of the delivered
message and follows it with a browser-like client that has never signed in."""
from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from tests.auth.mail_helpers import Inbox, free_port, link_in
from tests.factories import PASSWORD, make_user

CHOSEN = "Chosen-By-Mail-Passphrase-3"


@pytest.fixture
def inbox(app):
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER=controller.hostname, MAIL_PORT=controller.port,
                      PUBLIC_URL="https://health.example.org")
    yield box
    controller.stop()


def _send_mail(app) -> None:
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output


def _followed(path_or_url: str) -> str:
    assert path_or_url.startswith("https://health.example.org/"), path_or_url  # PUBLIC_URL, never the Host header
    return path_or_url.removeprefix("https://health.example.org")


def _link(message) -> str:
    body = message.get_content()
    path = link_in(body)
    assert path, body
    url = next(word for word in body.split() if word.endswith(path))
    return _followed(url)


def test_an_invitation_delivered_by_smtp_opens_an_account(app, db, client, login, inbox):
    login(make_user("admin", name="Ada Admin"))
    response = client.post("/admin/invitations/new", data={"email": "wren.alder@example.org", "name": "Wren Alder",
                                                             "roles": ["writer"]})
    assert response.status_code == 303
    _send_mail(app)
    (message,) = inbox.to("wren.alder@example.org")
    assert message["Subject"] == "[reviewflow] You are invited to reviewflow"
    path = _link(message)

    newcomer = app.test_client()
    assert newcomer.get(path).status_code == 200
    response = newcomer.post(path, data={"password": CHOSEN, "confirm": CHOSEN})
    assert response.status_code == 303 and newcomer.get("/dashboard").status_code == 200
    assert newcomer.post(path, data={"password": CHOSEN, "confirm": CHOSEN}).status_code == 409  # once only


def test_a_reset_delivered_by_smtp_sets_the_password_and_says_so(app, db, inbox):
    user = make_user("writer", email="maren@example.org")
    browser = app.test_client()
    assert browser.post("/password/forgot", data={"email": user.email}).status_code == 303
    assert browser.post("/password/forgot", data={"email": "ghost@example.org"}).status_code == 303
    _send_mail(app)
    (reset,) = inbox.to("maren@example.org")
    (ghost,) = inbox.to("ghost@example.org")
    assert reset["Subject"] == ghost["Subject"] == "[reviewflow] Reset your password"
    assert link_in(ghost.get_content()) is None and "no active account" in ghost.get_content()
    path = _link(reset)

    assert browser.post(path, data={"password": CHOSEN, "confirm": CHOSEN}).status_code == 303
    assert browser.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 200
    assert browser.post("/login", data={"email": user.email, "password": CHOSEN}).status_code == 303
    assert browser.get(path).status_code == 409
    _send_mail(app)
    (_, changed) = inbox.to("maren@example.org")
    assert changed["Subject"] == "[reviewflow] Your password was changed"
    assert "If you did not change it" in changed.get_content()
