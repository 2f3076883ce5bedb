"""Log-in, log-out, one's own account, and the admin pages for accounts and credentials."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from reviewflow import policy
from reviewflow.auth import services as accounts
from reviewflow.auth import sessions, twofactor
from reviewflow.auth.forms import (
    LoginForm,
    NewUserForm,
    PasswordChangeForm,
    ProfileForm,
    TokenForm,
    UserForm,
    VerifyForm,
)
from reviewflow.auth.models import ApiToken, User
from reviewflow.auth.sessions import sign_in
from reviewflow.auth.twofactor_views import start_second_step
from reviewflow.demo import demo_logins as _demo_logins
from reviewflow.errors import DomainError, InvalidInput, refusal_to
from reviewflow.extensions import db, utcnow
from reviewflow.textrules import counted

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after log-in: no scheme, no host, no ``//`` or backslash (a
    browser reads ``/\\host`` as ``//host``), no whitespace or control character (a line break in a
    ``Location`` header is refused by werkzeug: it was a 500)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target \
            or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. an unbalanced "[" read as an IPv6 host
        return None
    return None if parts.scheme or parts.netloc else target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("articles.dashboard"))
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, 400 if request.method == "POST" else 200)
    try:
        user = accounts.authenticate(form.email.data, form.password.data, request.remote_addr or "")
    except accounts.LoginRefused as refused:
        db.session.commit()  # the failure's audit event stays
        form.password.errors = [refused.message]
        return _login_page(form, 429 if refused.retry_after else 200,
                           {"Retry-After": str(refused.retry_after)} if refused.retry_after else {})
    db.session.commit()
    if twofactor.enabled(user):
        return start_second_step(user, safe_next(request.args.get("next")))
    sign_in(user)
    flash(f"Welcome back, {user.name}.", "success")
    return redirect(safe_next(request.args.get("next")) or url_for("articles.dashboard"))


def _login_page(form: LoginForm, status: int, headers: dict | None = None):
    return render_template("auth/login.html", form=form, demo_logins=_demo_logins()), status, headers or {}


@bp.post("/logout")
@login_required
def logout():
    accounts.end_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.pop(sessions.SESSION_KEY, None)
    flash("You are signed out. Every session of yours has ended.", "success")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user = current_user._get_current_object()
    form = PasswordChangeForm(prefix="pw", formdata=request.form if "pw-submit" in request.form else None)
    token_form = TokenForm(prefix="tok", formdata=request.form if "tok-submit" in request.form else None)
    if "pw-submit" in request.form and form.validate_on_submit() and _password_changed(user, form):
        return redirect(url_for("auth.account"))
    new_token = _new_token(user, token_form) if "tok-submit" in request.form and token_form.validate_on_submit() \
        else None
    return _account_page(user, form, token_form, new_token, 400 if request.method == "POST" and not new_token else 200)


def _password_changed(user: User, form: PasswordChangeForm) -> bool:
    """Change the password from the form; a wrong current password or a weak new one is said on its field."""
    try:
        accounts.change_password(user, form.current_password.data, form.new_password.data,
                                 keep_session=session.get(sessions.SESSION_KEY))
    except DomainError as exc:
        db.session.rollback()
        (form.new_password if exc.field == "password" else form.current_password).errors.append(exc.message)
        return False
    db.session.commit()
    login_user(user)  # the cookie carries the new session generation; this browser's record stays
    flash("Your password is changed. Your other sessions have ended and your API tokens are revoked.", "success")
    return True


def _new_token(user: User, token_form: TokenForm) -> str | None:
    """A new API token from the form (shown once), or None with the refusal on its field."""
    with refusal_to(token_form, InvalidInput, field="password"):  # a wrong password or lifetime: on its field
        _, new_token = accounts.create_token(user, user, token_form.name.data, token_form.password.data,
                                             token_form.lifetime())
        db.session.commit()
        flash("New API token created. Copy it now: it will not be shown again.", "success")
        return new_token
    return None


def _account_page(user: User, form, token_form, new_token=None, status: int = 200):
    profiles = accounts.profile_history(user) if user.has_role("reviewer") else []
    key = session.get(sessions.SESSION_KEY)
    live = [(s, sessions.is_current(s, key), sessions.device_label(s.user_agent))
            for s in sessions.active_sessions(user)]
    return render_template("auth/account.html", form=form, token_form=token_form, new_token=new_token,
                           tokens=accounts.tokens_of(user), profiles=profiles, sessions=live, now=utcnow(),
                           verifiers=verifier_names(profiles)), status


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    """Sign out everywhere else: every session of this person ends but this browser's."""
    ended = sessions.end_other_sessions(current_user._get_current_object(), session.get(sessions.SESSION_KEY))
    db.session.commit()
    flash(f"Signed out everywhere else: {counted(ended, 'other session')} ended." if ended
          else "You were not signed in anywhere else.", "success")
    return redirect(url_for("auth.account"))


def verifier_names(profiles) -> dict[int, str]:
    """Names of the admins who verified these profile versions, by user id, in one query whatever their
    number (``None`` entries are skipped). Pages show the name, never the admin's e-mail."""
    ids = {p.verified_by_id for p in profiles if p is not None and p.verified_by_id}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id) or abort(404)
    accounts.revoke_token(current_user._get_current_object(), token)
    db.session.commit()
    flash(f"Token {token.prefix}… is revoked. Programs using it now get 401 Unauthorized.", "success")
    back = urlsplit(request.referrer or "")
    back_path = safe_next(back.path + (f"?{back.query}" if back.query else "")) if back.netloc in ("", request.host) \
        else None
    return redirect(back_path or url_for("auth.account"))


# Admin ------------------------------------------------------------------------

@bp.get("/admin/users")
@login_required
def admin_users():
    policy.require(current_user, "admin.manage")
    q = request.args.get("q", "").strip()
    stmt = select(User).order_by(User.name).options(*accounts.with_roles())
    if q:
        stmt = stmt.where(func.lower(User.name).contains(q.lower()) | User.email.contains(q.lower()))
    page = db.paginate(stmt, per_page=current_app.config["PER_PAGE"], error_out=False)
    return render_template("admin/users.html", page=page, q=q)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def admin_user_new():
    policy.require(current_user, "admin.manage")
    form = NewUserForm()
    with refusal_to(form, field="email"):  # e.g. the email already has an account
        if form.validate_on_submit():
            user = _create_user(current_user._get_current_object(), form)
            db.session.commit()
            flash(f"Account for {user.name} created." + (" Add their credentials below."
                                                          if user.has_role("reviewer") else ""), "success")
            return redirect(url_for("auth.admin_user_edit", user_id=user.id))
    return render_template("admin/user_new.html", form=form), 400 if request.method == "POST" else 200


def _create_user(actor: User, form: NewUserForm) -> User:
    user = accounts.create_user(actor, form.email.data, form.name.data, form.password.data, form.roles.data,
                                bio=form.bio.data or "")
    if not form.active.data:
        accounts.update_user(actor, user, active=False)
    return user


def _user_edit_page(user: User, form: UserForm | None = None, profile_form: ProfileForm | None = None,
                    verify_form: VerifyForm | None = None, status: int = 200):
    """One person's admin page; each form not passed in is drawn fresh from the stored values."""
    if form is None:
        form = UserForm(obj=user, prefix="u", formdata=None, data={"roles": user.roles})
    if profile_form is None:
        profile_form = ProfileForm(obj=user.profile, prefix="p", formdata=None)
    if verify_form is None:
        verify_form = VerifyForm(formdata=None)
    profiles = accounts.profile_history(user)
    return render_template("admin/user_edit.html", person=user, form=form, profile_form=profile_form,
                           verify_form=verify_form, profiles=profiles, verifiers=verifier_names(profiles),
                           tokens=accounts.tokens_of(user), now=utcnow()), status


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def admin_user_edit(user_id: int):
    policy.require(current_user, "admin.manage")
    user, actor = accounts.get_user(user_id), current_user._get_current_object()
    # Each form reads the request only when its own button was pressed, so the other keeps the stored values.
    account_posted, profile_posted = "u-submit" in request.form, "p-submit" in request.form
    form = UserForm(obj=user, prefix="u", formdata=request.form if account_posted else None,
                    data=None if account_posted else {"roles": user.roles})
    profile_form = ProfileForm(obj=user.profile, prefix="p", formdata=request.form if profile_posted else None)
    with refusal_to(form, field="email"):  # e.g. an email already in use
        if account_posted and form.validate_on_submit():
            accounts.update_user(actor, user, name=form.name.data, email=form.email.data, bio=form.bio.data or "",
                                 roles=form.roles.data, active=form.active.data)
            return _saved(user, f"{user.name}'s account is saved.")
    if profile_posted and profile_form.validate_on_submit():
        accounts.save_profile(actor, user, {k: getattr(profile_form, k).data for k in accounts.PROFILE_FIELDS})
        return _saved(user, "Credentials saved as a new profile version; earlier sign-offs keep the version they "
                            "were signed under. The new version needs verifying before they can be assigned or sign.")
    return _user_edit_page(user, form, profile_form, status=400 if request.method == "POST" else 200)


def _saved(user: User, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("auth.admin_user_edit", user_id=user.id))


@bp.post("/admin/users/<int:user_id>/verify")
@login_required
def admin_verify(user_id: int):
    """Record that the signed-in admin checked the reviewer's current credentials, and how.

    Anyone but an admin gets 403 whoever the person is; an admin verifying their own credentials
    gets 403; a missing or invalid method re-renders the page with the error on the form (400);
    nothing to verify (no profile, already verified) is a 409 from the service.
    """
    policy.require(current_user, "admin.manage")
    user = accounts.get_user(user_id)
    actor = current_user._get_current_object()
    policy.require(actor, "credentials.verify", user)
    form = VerifyForm()
    with refusal_to(form, InvalidInput, field="method"):  # e.g. a line break in the method: on the form
        if form.validate_on_submit():
            profile = accounts.verify_profile(actor, user, form.method.data)
            message = (f"{user.name}'s credentials are verified (profile version {profile.version}), recorded with "
                       "your name, the time and how you checked them.")  # before the commit expires them
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("auth.admin_user_edit", user_id=user.id))
    return _user_edit_page(user, verify_form=form, status=400)
