"""Log-in limits that hold (``auth.throttle``): each attack of the review, tried again from outside.

- guesses at other accounts from one address are not forgiven by a success at one's own;
- parallel requests never get more guesses checked than the limits allow, and never a 409 or 500;
- ``X-Forwarded-For`` counts only through the configured number of trusted proxies;
- a stranger's failures from elsewhere never keep the owner out (no hard account lock).
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from reviewflow.audit.models import AuditEvent
from reviewflow.auth import services as accounts
from reviewflow.auth import throttle
from reviewflow.auth.throttle import LoginCounter
from reviewflow.extensions import db
from tests.factories import PASSWORD, make_app, make_user

WRONG = "Wrong-Password-123"


def _post(client, email: str, password: str, ip: str = "127.0.0.1", headers=None):
    return client.post("/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip},
                       headers=headers or {})


def _counter(key: str) -> LoginCounter | None:
    db.session.expire_all()
    return db.session.get(LoginCounter, key)


def _let_time_pass(seconds: int = 3600) -> None:
    """Move every wait and window back in time, as if the person waited before trying again."""
    rows = list(db.session.scalars(select(LoginCounter)))
    for row in rows:
        if row.wait_until:
            row.wait_until -= timedelta(seconds=seconds)
        if row.window_ends_at:
            row.window_ends_at -= timedelta(seconds=seconds)
    db.session.commit()


def _checked_failures() -> int:
    """Wrong passwords actually checked: each one is an ``auth.login_failed`` event."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "auth.login_failed")) or 0


def _sign_out(client) -> None:
    assert client.post("/logout").status_code == 303


# Pairs: free attempts, then growing delays ------------------------------------------------------

def test_failures_are_counted_per_pair_and_per_address(client, db):
    user = make_user("writer")
    for _ in range(2):
        _post(client, user.email, WRONG, ip="10.1.1.1")
    _post(client, "someone-else@example.org", WRONG, ip="10.1.1.1")
    assert _counter(throttle.pair_key(user.email, "10.1.1.1")).count == 2
    assert _counter(throttle.pair_key("someone-else@example.org", "10.1.1.1")).count == 1
    assert _counter(throttle.address_key("10.1.1.1")).count == 3


def test_after_five_failures_each_attempt_waits_longer(app, client, db):
    user = make_user("writer")
    for _ in range(5):
        assert _post(client, user.email, WRONG).status_code == 200
    # Straight after the fifth: even the right password waits, and is not checked.
    before = _checked_failures()
    refused = _post(client, user.email, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert _checked_failures() == before and client.get("/dashboard").status_code == 302
    waits = []
    for _ in range(4):
        _let_time_pass()
        assert _post(client, user.email, WRONG).status_code == 200
        waits.append(int(_post(client, user.email, WRONG).headers["Retry-After"]))
    assert waits == [2, 4, 8, 16]
    _let_time_pass()
    assert _post(client, user.email, PASSWORD).status_code == 303


def test_the_delay_is_capped_at_fifteen_minutes(app, client, db):
    user = make_user("writer")
    key = throttle.pair_key(user.email, "127.0.0.1")
    _post(client, user.email, WRONG)
    db.session.execute(update(LoginCounter).where(LoginCounter.key == key).values(count=40))
    db.session.commit()
    _post(client, user.email, WRONG)
    retry = int(_post(client, user.email, PASSWORD).headers["Retry-After"])
    assert 890 <= retry <= 900


def test_the_wait_message_is_the_same_for_unknown_and_known_emails(client, db):
    user = make_user("writer")
    answers = []
    for email, ip in ((user.email, "10.3.0.1"), ("ghost@example.org", "10.3.0.2")):
        for _ in range(5):
            _post(client, email, WRONG, ip=ip)
        follow = _post(client, email, PASSWORD, ip=ip)
        answers.append((follow.status_code, follow.get_data(as_text=True).replace(email, "EMAIL")))
    assert answers[0][0] == answers[1][0] == 429
    assert answers[0][1] == answers[1][1]


def test_a_success_clears_only_its_own_pair(app, client, db):
    user = make_user("writer")
    other = make_user("writer")
    for _ in range(3):
        _post(client, user.email, WRONG, ip="10.7.0.1")
        _post(client, other.email, WRONG, ip="10.7.0.1")
    assert _post(client, user.email, PASSWORD, ip="10.7.0.1").status_code == 303
    assert _counter(throttle.pair_key(user.email, "10.7.0.1")) is None
    assert _counter(throttle.pair_key(other.email, "10.7.0.1")).count == 3
    assert _counter(throttle.address_key("10.7.0.1")).count == 6  # the success gave back only itself


# The address ceiling: not reset by a success at one's own account ------------------------------

def test_signing_in_to_ones_own_account_does_not_forgive_guesses_at_others(app, client, db):
    """The review's attack: 42 wrong guesses at other accounts from one address, with a sign-in to
    the attacker's own account every few guesses, drew no 429. Now the 31st failure is refused."""
    own = make_user("writer")
    answers = []
    for i in range(42):
        if i % 4 == 0 and i < 30:
            assert _post(client, own.email, PASSWORD, ip="10.8.0.1").status_code == 303
            _sign_out(client)
        answers.append(_post(client, f"target{i}@example.org", WRONG, ip="10.8.0.1").status_code)
    assert answers[:30] == [200] * 30
    assert set(answers[30:]) == {429}
    assert _checked_failures() == 30
    assert _post(client, own.email, PASSWORD, ip="10.8.0.1").status_code == 429  # the address is full
    # Another address is not affected, and the window ends.
    assert _post(client, own.email, PASSWORD, ip="10.8.0.2").status_code == 303
    _sign_out(client)
    _let_time_pass()
    assert _post(client, "target99@example.org", WRONG, ip="10.8.0.1").status_code == 200


def test_the_address_refusal_says_how_long_to_wait(app, client, db):
    app.config.update(LOGIN_ADDRESS_LIMIT=3)
    for i in range(3):
        _post(client, f"x{i}@example.org", WRONG, ip="10.9.0.1")
    refused = _post(client, "x9@example.org", WRONG, ip="10.9.0.1")
    assert refused.status_code == 429
    assert 14 * 60 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert "from this address" in refused.get_data(as_text=True)


# No hard lock: a stranger cannot keep the owner out ---------------------------------------------

def test_a_strangers_failures_from_elsewhere_do_not_keep_the_owner_out(client, db):
    victim = make_user("writer")
    statuses = {_post(client, victim.email, WRONG, ip="203.0.113.9").status_code for _ in range(60)}
    assert statuses == {200, 429}  # the stranger is slowed down, then refused
    response = _post(client, victim.email, PASSWORD, ip="198.51.100.20")
    assert response.status_code == 303
    assert client.get("/dashboard").status_code == 200


def test_strangers_at_many_addresses_do_not_keep_the_owner_out(client, db):
    victim = make_user("writer")
    for n in range(20):
        for _ in range(7):
            _post(client, victim.email, WRONG, ip=f"203.0.113.{n}")
    assert _post(client, victim.email, PASSWORD, ip="198.51.100.20").status_code == 303


# Races: the counters are changed by one statement each ------------------------------------------

def _race(app, monkeypatch, attempts: list[tuple[str, str, str]]) -> list[int]:
    """Post every (email, password, ip) at once from its own thread; the answers' statuses."""
    real = accounts.check_password

    def slow_check(user, password):  # widen the window between counting and checking
        time.sleep(0.05)
        return real(user, password)

    monkeypatch.setattr(accounts, "check_password", slow_check)
    frozen = throttle.utcnow()  # a slow machine must not let a one-second delay lapse mid-test
    monkeypatch.setattr(throttle, "utcnow", lambda: frozen)
    barrier = threading.Barrier(len(attempts))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt(email: str, password: str, ip: str) -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=30)
            statuses.append(_post(client, email, password, ip=ip).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return statuses


@pytest.mark.real_commits  # each thread's request runs on a connection of its own
def test_parallel_guesses_at_one_account_never_pass_the_free_attempts(app, db, monkeypatch):
    """The review's attack: 8 parallel requests per round got 15 guesses checked against a limit of
    8, and one answered 409. Now each round checks at most what the counter allows."""
    victim = make_user("writer")
    for _ in range(3):
        statuses = _race(app, monkeypatch, [(victim.email, WRONG, "10.20.0.1")] * 8)
        assert set(statuses) <= {200, 429}, statuses  # no 409 from a duplicate row, no 500
    assert _checked_failures() == 5  # the five free attempts; every later one had to wait
    assert _counter(throttle.pair_key(victim.email, "10.20.0.1")).count == 5


@pytest.mark.real_commits  # each thread's request runs on a connection of its own
def test_parallel_guesses_across_accounts_never_pass_the_address_ceiling(app, db, monkeypatch):
    app.config.update(LOGIN_ADDRESS_LIMIT=6)
    people = [make_user("writer") for _ in range(12)]
    statuses = _race(app, monkeypatch, [(p.email, WRONG, "10.21.0.1") for p in people])
    assert sorted(statuses) == [200] * 6 + [429] * 6
    assert _checked_failures() == 6


# Trusted proxies --------------------------------------------------------------------------------

@pytest.fixture
def proxied_app(app):
    """The same database as ``app``, behind ``TRUSTED_PROXIES=1`` (one proxy appends the address)."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES=1)
    with other.app_context():
        yield other
        db.session.remove()


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, db):
    """With 0 trusted proxies (the default) a forged header changes nothing: the socket counts."""
    user = make_user("writer")
    for n in range(5):
        _post(client, user.email, WRONG, ip="10.30.0.1", headers={"X-Forwarded-For": f"192.0.2.{n}"})
    assert _post(client, user.email, PASSWORD, ip="10.30.0.1",
                 headers={"X-Forwarded-For": "192.0.2.99"}).status_code == 429
    assert _counter(throttle.address_key("10.30.0.1")).count == 5
    assert _counter(throttle.address_key("192.0.2.1")) is None


def test_x_forwarded_for_is_honoured_through_one_trusted_proxy(proxied_app):
    """Behind the proxy every request comes from its address; the client is the one it appended
    (the last entry), so readers do not share one counter and a forged first entry is ignored."""
    user = make_user("writer")
    client = proxied_app.test_client()
    for _ in range(5):
        _post(client, user.email, WRONG, ip="10.0.0.2", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7"})
    assert _counter(throttle.address_key("198.51.100.7")).count == 5
    assert _counter(throttle.address_key("10.0.0.2")) is None and _counter(throttle.address_key("1.2.3.4")) is None
    # Another reader behind the same proxy is not held up by the first one's failures.
    assert _post(client, user.email, PASSWORD, ip="10.0.0.2",
                 headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 303
