"""What the audit tests do as an attacker with full database access but without the audit key,
and how they compare a verification in ranges with a single pass."""
from __future__ import annotations

from sqlalchemy import text

from reviewflow.audit import services as audit
from reviewflow.audit import verify_parallel
from reviewflow.extensions import db


def drop_guards() -> None:
    """What an attacker with database access does first."""
    db.session.commit()  # the test's own session must not hold a lock that DROP TRIGGER waits for
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER audit_events_no_update ON audit_events"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
    db.session.expire_all()


def one_pass(monkeypatch) -> audit.VerifyResult:
    """The answer of a single pass over the whole chain in this process, the reference."""
    with monkeypatch.context() as m:
        m.setattr(verify_parallel, "can_fork", lambda engine: False)
        return audit.verify(record_result=False)


def same_answer(a: audit.VerifyResult, b: audit.VerifyResult) -> bool:
    return (a.ok, a.count, a.first_bad_seq, a.reason) == (b.ok, b.count, b.first_bad_seq, b.reason)
