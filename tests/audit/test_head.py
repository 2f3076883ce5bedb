"""The chain head is keyed, and a checkpoint kept outside the database pins the chain.

The attacker has full database access but not the audit key: they cut events off the end of the
chain and set the head to the new last event, or put back a head row they saved earlier, and
`audit verify` must still say so; what only a checkpoint can catch (the database set back to an
earlier state, head and all), `audit verify --checkpoint FILE` catches.
"""
from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select, text

from reviewflow.audit import services as audit
from reviewflow.audit import verification
from reviewflow.audit.models import GENESIS, AuditEvent, AuditHead
from reviewflow.extensions import db
from tests.audit.tampering import drop_guards, one_pass, same_answer
from tests.factories import last_seq, make_article

KEY = b"test-audit-key"


@pytest.fixture
def chain(db, cast):
    """An honest chain of a dozen or so events, checked to verify."""
    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    result = audit.verify(record_result=False)
    assert result.ok and result.count == last_seq() >= 12, result.reason
    return result.count


def head_row():
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT seq, hash, mac FROM audit_head WHERE id = 1")).one()


def event_hash(seq: int) -> str:
    return db.session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))


def cut_tail(keep: int) -> None:
    """Delete every event after ``keep``, leaving the head as it is."""
    drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq > :keep"), {"keep": keep})


def set_head(seq: int, hash_: str, mac: str | None = None) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash" + (", mac = :mac" if mac is not None
                                                                              else "") + " WHERE id = 1"),
                     {"seq": seq, "hash": hash_, "mac": mac})
    db.session.expire_all()


# The keyed head -------------------------------------------------------------------------------------

def test_every_append_keys_the_head(db, cast):
    make_article(cast["writer"], "submitted")
    head = db.session.get(AuditHead, 1)
    assert head.seq == last_seq() > 0
    assert head.hash == event_hash(head.seq)
    assert head.mac == audit.head_mac(KEY, head.seq, head.hash)
    assert head.mac != audit.head_mac(KEY, head.seq - 1, event_hash(head.seq - 1))


def test_an_empty_chain_with_the_genesis_head_verifies(db):
    assert tuple(head_row()) == (0, GENESIS, "")
    result = audit.verify(record_result=False)
    assert result.ok and result.count == 0


def test_an_empty_chain_with_a_head_that_counts_events_does_not(db):
    set_head(3, GENESIS)
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == 1 and "removed from the end" in result.reason


def test_events_cut_off_the_end_with_the_head_set_to_the_new_last_event(chain):
    """The attacker cannot write the head's mac without the key: the old mac, a blank one, or one
    made with plain SHA-256 all fail."""
    keep = chain - 2
    cut_tail(keep)
    for forged in (None, "", hashlib.sha256(f"{keep}\n{event_hash(keep)}".encode()).hexdigest()):
        set_head(keep, event_hash(keep), forged)
        result = audit.verify(record_result=False)
        assert not result.ok and result.first_bad_seq == keep, result.reason
        assert "mac does not verify" in result.reason and "removed from the end" in result.reason


def test_events_cut_off_the_end_with_the_head_untouched(chain):
    cut_tail(chain - 3)
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == chain - 2
    assert result.reason == (f"the chain head does not match the last event: the head records {chain} events but "
                             f"the chain ends at event {chain - 3}, so events were removed from the end")


def test_a_head_with_another_hash_does_not_match_the_last_event(chain):
    set_head(chain, "e" * 64)
    result = audit.verify(record_result=False)
    assert result.first_bad_seq == chain and result.reason == "the chain head does not match the last event"


def test_a_head_set_back_to_an_earlier_valid_head_is_caught(db, cast):
    """A head row saved earlier carries a valid mac; put back over a longer chain, it is behind."""
    make_article(cast["writer"], "submitted")
    saved = head_row()
    make_article(cast["writer"], "submitted")
    set_head(*saved)
    result = audit.verify(record_result=False)
    assert not result.ok and result.first_bad_seq == last_seq()
    assert f"the head records {saved.seq} events but the chain holds {last_seq()}" in result.reason


def test_an_event_appended_while_verifying_is_no_false_alarm(db, cast, monkeypatch):
    """The head read before the events is the one checked when appends move the head past the last
    event read; reading the head only afterwards would report events removed from the end."""
    make_article(cast["writer"], "submitted")
    real = audit._check_span

    def check_then_append(engine, keys, span):
        answer = real(engine, keys, span)
        audit.record("auth.login", actor=cast["writer"], role="writer", target=cast["writer"])
        db.session.commit()
        return answer

    monkeypatch.setattr(verification, "_check_span", check_then_append)  # where verify looks it up
    result = audit.verify(record_result=False)
    assert result.ok, result.reason
    assert result.count == last_seq() - 1


def test_the_head_keeps_verifying_across_a_key_rotation(app, db, cast):
    """The head's mac is made with the key of its event, as the event's hash is."""
    make_article(cast["writer"], "submitted")
    app.config["AUDIT_KEY"] = "the-new-audit-key-2027"
    app.config["AUDIT_OLD_KEYS"] = "2026:test-audit-key"
    assert audit.verify(record_result=False).ok  # the head still under the old key
    make_article(cast["writer"], "submitted")
    head = db.session.get(AuditHead, 1)
    assert head.mac == audit.head_mac(b"the-new-audit-key-2027", head.seq, head.hash)
    assert audit.verify(record_result=False).ok


@pytest.mark.real_commits  # forked workers read the chain on connections of their own
@pytest.mark.parametrize("case", ["cut, head untouched", "cut, head rewritten", "head set back"])
def test_ranges_check_the_head_as_one_pass_does(db, cast, in_ranges, monkeypatch, case):
    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    saved = head_row()
    make_article(cast["writer"], "submitted")
    count = last_seq()
    if case == "head set back":
        set_head(*saved)
    else:
        cut_tail(count - 4)
        if case == "cut, head rewritten":
            set_head(count - 4, event_hash(count - 4))
    result = audit.verify(record_result=False)
    assert in_ranges and not result.ok
    assert same_answer(result, one_pass(monkeypatch))


def test_cli_verify_names_a_cut_tail(app, chain):
    cut_tail(chain - 1)
    set_head(chain - 1, event_hash(chain - 1))
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0
    assert f"at event {chain - 1}: the chain head's mac does not verify" in result.output


# Checkpoints ----------------------------------------------------------------------------------------

def take_checkpoint(app) -> str:
    result = app.test_cli_runner().invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    return line


def verify_with(app, tmp_path, *lines: str):
    path = tmp_path / "checkpoints.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return app.test_cli_runner().invoke(args=["audit", "verify", "--checkpoint", str(path)])


def test_checkpoint_is_one_keyed_line_naming_the_head(app, chain):
    cp = json.loads(take_checkpoint(app))
    head = db.session.get(AuditHead, 1)
    assert (cp["seq"], cp["hash"], cp["key_id"]) == (head.seq, head.hash, audit.key_id_of("test-audit-key"))
    assert len(cp["mac"]) == 64 and cp["mac"] != head.mac
    assert set(cp) == {"seq", "hash", "key_id", "taken_at", "mac"}


def test_a_checkpoint_holds_while_the_chain_grows(app, db, cast, chain, tmp_path):
    first = take_checkpoint(app)
    make_article(cast["writer"], "submitted")
    second = take_checkpoint(app)
    make_article(cast["writer"], "submitted")
    result = verify_with(app, tmp_path, first, second)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == str(last_seq())
    assert "2 checkpoints held" in result.output


def test_an_empty_chain_can_be_checkpointed(app, db, tmp_path):
    line = take_checkpoint(app)
    assert json.loads(line)["seq"] == 0
    assert verify_with(app, tmp_path, line).exit_code == 0


def test_checkpoint_refuses_a_broken_chain(app, chain):
    cut_tail(chain - 1)
    result = app.test_cli_runner().invoke(args=["audit", "checkpoint"])
    assert result.exit_code != 0
    assert "removed from the end" in result.stderr and "{" not in result.stdout
    with pytest.raises(ValueError):
        audit.checkpoint(audit.verify(record_result=False))


def test_a_database_set_back_below_a_checkpoint_is_caught(app, db, cast, chain, tmp_path):
    """Events cut off the end and the head row saved at that point put back: verify alone cannot tell,
    the checkpoint can."""
    saved = head_row()
    make_article(cast["writer"], "submitted")
    line = take_checkpoint(app)
    checkpointed = last_seq()
    cut_tail(saved.seq)
    set_head(*saved)
    assert audit.verify(record_result=False).ok  # consistent, as a restored backup is
    result = verify_with(app, tmp_path, line)
    assert result.exit_code != 0
    assert (f"at event {saved.seq + 1}: the chain ends at event {saved.seq}, before event {checkpointed} of the "
            "checkpoint taken") in result.output


def test_a_chain_rewritten_past_a_checkpoint_is_caught(app, db, cast, chain, tmp_path):
    """Set back to an earlier state, then the app went on: the checkpoint's event number exists again,
    with another event."""
    saved = head_row()
    make_article(cast["writer"], "submitted")
    line = take_checkpoint(app)
    checkpointed = last_seq()
    cut_tail(saved.seq)
    set_head(*saved)
    while last_seq() < checkpointed + 2:
        make_article(cast["writer"], "submitted", title="Another article")
    assert audit.verify(record_result=False).ok
    result = verify_with(app, tmp_path, line)
    assert result.exit_code != 0
    assert f"at event {checkpointed}: event {checkpointed} is not the one the checkpoint taken" in result.output
    assert "the chain was rewritten" in result.output


def _edited(line: str, **changes) -> str:
    return json.dumps(json.loads(line) | changes, sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("forge", ["seq", "hash", "taken_at", "plain sha256 mac"])
def test_an_altered_checkpoint_is_refused(app, chain, tmp_path, forge):
    """A checkpoint moved to an earlier event (to fit a set-back database) is refused by its mac."""
    line = take_checkpoint(app)
    cp = json.loads(line)
    if forge == "seq":
        forged = _edited(line, seq=cp["seq"] - 2, hash=event_hash(cp["seq"] - 2))
    elif forge == "hash":
        forged = _edited(line, hash="0" * 64)
    elif forge == "taken_at":
        forged = _edited(line, taken_at="2020-01-01T00:00:00+00:00")
    else:
        forged = _edited(line, mac=hashlib.sha256(f"{cp['seq']}\n{cp['hash']}".encode()).hexdigest())
    result = verify_with(app, tmp_path, forged)
    assert result.exit_code != 0
    assert "the checkpoint's mac does not verify with the audit key" in result.output


def test_a_checkpoint_under_an_unknown_key_is_refused(app, chain, tmp_path):
    line = take_checkpoint(app)
    result = verify_with(app, tmp_path, _edited(line, key_id="0123456789ab"))
    assert result.exit_code != 0 and "signed with an unknown key 0123456789ab" in result.output


def test_a_checkpoint_survives_a_key_rotation(app, db, cast, chain, tmp_path):
    line = take_checkpoint(app)
    app.config["AUDIT_KEY"] = "the-new-audit-key-2027"
    app.config["AUDIT_OLD_KEYS"] = "2026:test-audit-key"
    make_article(cast["writer"], "submitted")
    assert verify_with(app, tmp_path, line).exit_code == 0


@pytest.mark.parametrize("content", ["not json", '{"seq": 1}', '{"seq": "1", "hash": "", "key_id": "", '
                                     '"taken_at": "", "mac": ""}'])
def test_an_unreadable_checkpoint_fails(app, chain, tmp_path, content):
    result = verify_with(app, tmp_path, content)
    assert result.exit_code != 0 and "the checkpoint cannot be read" in result.output


def test_a_checkpoint_file_without_a_checkpoint_fails(app, chain, tmp_path):
    result = verify_with(app, tmp_path, "", "  ")
    assert result.exit_code != 0 and "holds no checkpoint" in result.output


def test_each_line_of_the_checkpoint_file_must_hold(app, chain, tmp_path):
    line = take_checkpoint(app)
    result = verify_with(app, tmp_path, line, _edited(line, hash="0" * 64))
    assert result.exit_code != 0 and "mac does not verify" in result.output
