"""Setting up, using and turning off two-factor sign-in (TOTP with pyotp; QR codes drawn by segno).

Every function takes the person, flushes and never commits. Enrolling, turning it off and using a
recovery code are audit events in the same transaction. A code is checked against the current
30-second step and one on either side (clocks drift), and is accepted only when its step is
later than the last one accepted: one conditional ``UPDATE``, so two requests racing with the
same code cannot both pass. Wrong codes at sign-in are limited like passwords (``throttle``).
"""
from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
import segno
from flask import current_app
from markupsafe import Markup
from sqlalchemy import delete, func, select, update

from reviewflow import policy
from reviewflow.audit import services as audit
from reviewflow.auth import throttle
from reviewflow.auth.services import check_password, record_login
from reviewflow.auth.twofactor import RecoveryCode, TwoFactor, enabled
from reviewflow.errors import Conflict, InvalidInput, TooManyAttempts
from reviewflow.extensions import db, utcnow

RECOVERY_CODES = 10
STEP = 30


def clock() -> float:
    """Seconds since the epoch: the time the codes are checked against (tests set it)."""
    return time.time()


class WrongCode(InvalidInput):
    """A code that is not (or no longer) right; the view shows it beside the field. What was recorded
    before the refusal (the failed attempt's audit event) is kept."""

    keep_changes = True


def _setting(user) -> TwoFactor | None:
    return db.session.get(TwoFactor, user.id)


def is_enabled(user) -> bool:
    return enabled(user)


def remaining_recovery_codes(user) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def start_enrolment(user) -> TwoFactor:
    """A new key for the person to load into their app (replacing an unconfirmed one).

    Raises Conflict when two-factor sign-in is already on: turn it off first.
    """
    setting = _setting(user)
    if setting is not None and setting.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on. Turn it off first to set up another app.")
    if setting is None:
        setting = TwoFactor(user_id=user.id, secret=pyotp.random_base32())
        db.session.add(setting)
    db.session.flush()
    return setting


def pending_key(user) -> TwoFactor | None:
    """The key being set up (not yet confirmed), if any."""
    setting = _setting(user)
    return setting if setting is not None and setting.confirmed_at is None else None


def provisioning_uri(user, setting: TwoFactor) -> str:
    return pyotp.TOTP(setting.secret).provisioning_uri(name=user.email,
                                                       issuer_name=current_app.config["TWO_FACTOR_ISSUER"])


def qr_svg(uri: str) -> Markup:
    """The ``otpauth://`` address as an inline SVG QR code, drawn here: nothing is sent elsewhere."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#111", light="#fff", title="QR code of your key")
    svg = svg.replace("<svg ", '<svg role="img" aria-label="QR code of your key" ', 1)
    return Markup(svg)  # segno's own SVG of our own otpauth:// address: nothing a person typed


def grouped(secret: str) -> str:
    """The key in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _clean_code(code) -> str:
    if not isinstance(code, str):
        raise WrongCode("Enter the 6-digit code from your authenticator app.", field="code")
    return "".join(code.split()).replace("-", "")


def _matching_step(setting: TwoFactor, code: str, at: float | None = None) -> int | None:
    """The time step (now, or one either side) whose code this is, or None."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp, now = pyotp.TOTP(setting.secret), at or clock()
    for offset in (0, -1, 1):
        step = int(now // STEP) + offset
        if secrets.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def _use_step(setting: TwoFactor, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: True when this call won."""
    done = db.session.execute(update(TwoFactor).where(TwoFactor.user_id == setting.user_id,
                                                      TwoFactor.last_used_step < step)
                              .values(last_used_step=step).execution_options(synchronize_session=False))
    db.session.expire(setting, ["last_used_step"])
    return done.rowcount == 1


def check_totp(user, code) -> bool:
    """True when ``code`` is the app's current code and was not used before (it is then used up)."""
    setting = _setting(user)
    if setting is None or setting.confirmed_at is None:
        return False
    step = _matching_step(setting, _clean_code(code))
    return step is not None and _use_step(setting, step)


def _hash(code: str) -> str:
    return hashlib.sha256(code.lower().encode()).hexdigest()


def _new_recovery_codes(user) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    plain = [secrets.token_hex(8) for _ in range(RECOVERY_CODES)]  # 64 bits each: too many to try offline
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(p)) for p in plain)
    return ["-".join(p[i:i + 4] for i in range(0, 16, 4)) for p in plain]


def confirm_enrolment(user, code) -> list[str]:
    """Turn two-factor sign-in on once a code from the app proves it holds the key.

    Returns the ten recovery codes, in plain text this once. Raises WrongCode (400) for a code
    that does not match, Conflict when it is on already or nothing is being set up.
    """
    setting = _setting(user)
    if setting is None:
        raise Conflict("Nothing is being set up. Start again from your account page.")
    if setting.confirmed_at is not None:
        raise Conflict("Two-factor sign-in is already on.")
    step = _matching_step(setting, _clean_code(code))
    if step is None or not _use_step(setting, step):
        raise WrongCode("That code does not match. Check that the app shows reviewflow and enter its current "
                        "6-digit code. Nothing was changed.", field="code")
    setting.confirmed_at = utcnow()
    codes = _new_recovery_codes(user)
    db.session.flush()
    audit.record("two_factor.enabled", actor=user, role=policy.acting_role(user), target=user, target_label=user.email,
                 details={"recovery_codes": RECOVERY_CODES})
    return codes


def use_recovery_code(user, code) -> bool:
    """Use up one recovery code (an audit event); True when it was one of the person's unused codes."""
    cleaned = _clean_code(code).lower()
    if len(cleaned) != 16:
        return False
    done = db.session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(cleaned), RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        return False
    left = remaining_recovery_codes(user)
    audit.record("two_factor.recovery_code_used", actor=user, role=policy.acting_role(user), target=user,
                 target_label=user.email, details={"remaining": left})
    return True


def check_second_factor(user, code) -> str:
    """The sign-in's second step: the app's code or a recovery code. Returns "totp" or "recovery".

    Counted first (``throttle.take_code_attempt``): raises TooManyAttempts (429, with
    ``retry_after``) while wrong codes must wait, and WrongCode (400) for a wrong or reused code.
    """
    refusal = throttle.take_code_attempt(user.id)
    if refusal is not None:
        raise TooManyAttempts(f"Too many wrong codes. Wait {throttle.human_wait(refusal.retry_after)} before "
                              "trying again.", retry_after=refusal.retry_after, field="code")
    cleaned = _clean_code(code)
    used = "totp" if check_totp(user, cleaned) else ("recovery" if use_recovery_code(user, cleaned) else None)
    if used is None:
        audit.record("auth.code_failed", actor=user, role=policy.acting_role(user), target=user,
                     target_label=user.email)
        raise WrongCode("That code is not right, or was used already. Enter the current code from your app, or "
                        "one of your recovery codes.", field="code")
    throttle.code_succeeded(user.id)
    return used


def disable(user, password, code) -> None:
    """Turn two-factor sign-in off: needs the password and a current code (or a recovery code).

    Raises InvalidInput (400) on the field that is wrong, Conflict when it is not on. An audit
    event; the recovery codes go too. Someone whose role requires it is sent to set it up again
    (a new phone), and can do nothing else until they have.
    """
    setting = _setting(user)
    if setting is None or setting.confirmed_at is None:
        raise Conflict("Two-factor sign-in is not on.")
    if not isinstance(password, str) or not check_password(user, password):
        raise InvalidInput("That password is not right. Nothing was changed.", field="password")
    cleaned = _clean_code(code)
    if not (check_totp(user, cleaned) or use_recovery_code(user, cleaned)):
        raise WrongCode("That code is not right, or was used already. Nothing was changed.", field="code")
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.delete(setting)
    db.session.flush()
    audit.record("two_factor.disabled", actor=user, role=policy.acting_role(user), target=user, target_label=user.email)


def complete_sign_in(user, code, ip: str) -> str:
    """The second step of a sign-in: check the code (``check_second_factor``) and record the sign-in."""
    used = check_second_factor(user, code)
    record_login(user, ip, second_factor=used)
    return used
