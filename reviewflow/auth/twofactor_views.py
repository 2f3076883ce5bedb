"""Pages of two-factor sign-in: the code step of a sign-in, setting it up, turning it off.

After a right password, someone with two-factor sign-in on is *not* signed in: the session
holds only who is half-way (``PENDING``, for five minutes), which no page or rule treats as a
person. Someone whose role requires a second factor and who has none is signed in, but every
page sends them to the set-up page, and the policy refuses them everything else.
"""
from __future__ import annotations

import time

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required

from reviewflow.auth import twofactor
from reviewflow.auth import twofactor_services as tf
from reviewflow.auth.forms import CodeForm, DisableTwoFactorForm
from reviewflow.auth.services import get_user
from reviewflow.auth.sessions import sign_in
from reviewflow.errors import DomainError, NotFound, TooManyAttempts, refusal_to, settle_after_refusal
from reviewflow.extensions import db

bp = Blueprint("two_factor", __name__)

#: Session key of a sign-in waiting for its code: {"uid", "gen", "until", "next"}.
PENDING = "two_factor_pending"
PENDING_SECONDS = 300
#: What someone who must set up a second factor may still reach.
OPEN_ENDPOINTS = {"two_factor.setup", "two_factor.start", "two_factor.confirm", "auth.logout", "static",
                  "health.healthz"}


def start_second_step(user, next_url: str | None):
    """After the right password: remember who is half-way and ask for the code."""
    session[PENDING] = {"uid": user.id, "gen": user.session_generation, "until": time.time() + PENDING_SECONDS,
                        "next": next_url}
    return redirect(url_for("two_factor.login_code"))


def _pending_user():
    pending = session.get(PENDING)
    if not isinstance(pending, dict) or pending.get("until", 0) < time.time():
        return None, None
    try:
        user = get_user(pending.get("uid"))
    except NotFound:
        return None, None
    if not user.active or user.session_generation != pending.get("gen"):
        return None, None
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step of a sign-in: a code from the app, or a recovery code."""
    user, pending = _pending_user()
    if user is None:
        return _sign_in_expired()
    form = CodeForm()
    with refusal_to(form, field="code") as refused:  # a wrong code (400) or too many (429): on the form
        if form.validate_on_submit():
            used = tf.complete_sign_in(user, form.code.data, request.remote_addr or "")
            db.session.commit()
            return _signed_in(user, pending, used)
    wait = refused.error.retry_after if isinstance(refused.error, TooManyAttempts) else None
    return render_template("auth/login_code.html", form=form), refused.status, \
        {"Retry-After": str(wait)} if wait else {}


def _sign_in_expired():
    session.pop(PENDING, None)
    flash("Your sign-in has expired. Enter your email and password again.", "info")
    return redirect(url_for("auth.login"))


def _signed_in(user, pending: dict, used: str):
    """The code was right: the person is signed in and goes where they were going."""
    session.pop(PENDING, None)
    sign_in(user)
    if used == "recovery":
        flash(f"You signed in with a recovery code; {tf.remaining_recovery_codes(user)} are left. "
              "Set up your app again from your account if your phone is lost.", "warning")
    else:
        flash(f"Welcome back, {user.name}.", "success")
    return redirect(pending.get("next") or url_for("articles.dashboard"))


@bp.before_app_request
def _send_to_setup():
    """Someone whose role requires a second factor and who has none can only set it up or sign out."""
    if request.endpoint in OPEN_ENDPOINTS or request.path.startswith("/api/") or not twofactor.required_roles():
        return None
    if current_user.is_authenticated and twofactor.must_enrol(current_user):
        flash("Your role needs two-factor sign-in. Set it up to continue.", "info")
        return redirect(url_for("two_factor.setup"))
    return None


def _setup_page(status: int = 200, form: CodeForm | None = None, disable_form: DisableTwoFactorForm | None = None,
                codes: list[str] | None = None):
    user = current_user._get_current_object()
    key = tf.pending_key(user)
    uri = tf.provisioning_uri(user, key) if key else None
    return render_template("auth/two_factor.html", enabled=tf.is_enabled(user), key=key,
                           grouped_key=tf.grouped(key.secret) if key else None, qr=tf.qr_svg(uri) if uri else None,
                           uri=uri, form=form or CodeForm(formdata=None),
                           disable_form=disable_form or DisableTwoFactorForm(formdata=None),
                           required=twofactor.required_for(user), codes=codes,
                           remaining=tf.remaining_recovery_codes(user)), status


@bp.get("/account/two-factor")
@login_required
def setup():
    """Two-factor sign-in: its state, and setting it up or turning it off."""
    return _setup_page()


@bp.post("/account/two-factor/start")
@login_required
def start():
    tf.start_enrolment(current_user._get_current_object())
    db.session.commit()
    return redirect(url_for("two_factor.setup"))


@bp.post("/account/two-factor/confirm")
@login_required
def confirm():
    """Turn it on with a code from the app; the recovery codes are shown on this answer only."""
    form = CodeForm()
    if not form.validate_on_submit():
        return _setup_page(400, form=form)
    try:
        codes = tf.confirm_enrolment(current_user._get_current_object(), form.code.data)
    except tf.WrongCode as exc:
        db.session.rollback()
        form.code.errors = [exc.message]
        return _setup_page(400, form=form)
    db.session.commit()
    flash("Two-factor sign-in is on. From now on you sign in, and sign decisions, with a code from your app.",
          "success")
    return _setup_page(codes=codes)


@bp.post("/account/two-factor/disable")
@login_required
def disable():
    """Turn it off with the password and a code."""
    form = DisableTwoFactorForm()
    if not form.validate_on_submit():
        return _setup_page(400, disable_form=form)
    try:
        tf.disable(current_user._get_current_object(), form.password.data, form.code.data)
    except DomainError as exc:
        if exc.status != 400:
            raise
        settle_after_refusal(exc)
        (form.password if exc.field == "password" else form.code).errors = [exc.message]
        return _setup_page(400, disable_form=form)
    db.session.commit()
    flash("Two-factor sign-in is off. Your recovery codes no longer work.", "success")
    return redirect(url_for("two_factor.setup"))
