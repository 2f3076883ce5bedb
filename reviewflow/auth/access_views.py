"""Getting into an account without a password yet: invitations (the admin's pages and the person's
link) and password reset by e-mail. A link that cannot be used gets a page saying why and what to do."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.auth import invitations, resets
from reviewflow.auth.forms import ForgotPasswordForm, InviteForm, NewPasswordForm
from reviewflow.auth.links import UnusableLink
from reviewflow.auth.views import sign_in
from reviewflow.errors import Conflict, DomainError, InvalidInput, settle_after_refusal
from reviewflow.extensions import db, utcnow

bp = Blueprint("access", __name__)


@bp.errorhandler(UnusableLink)
def unusable_link(exc: UnusableLink):
    """A used, expired, revoked or unknown link: its own page, with the next step (never a bare 404)."""
    settle_after_refusal(exc)
    return render_template("access/unusable_link.html", exc=exc), exc.status


def _show_on_form(form, exc: DomainError) -> None:
    """A service's refusal on the field it names, else above the form."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


# Password reset -------------------------------------------------------------------------------------

@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """Ask for a reset link. Every valid request gets the same redirect, whether the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            resets.request_reset(form.email.data, request.remote_addr or "")
        except DomainError as exc:  # not an e-mail address: said on the field
            db.session.rollback()
            _show_on_form(form, exc)
        else:
            db.session.commit()
            return redirect(url_for("access.reset_sent"))
    return render_template("access/forgot.html", form=form), 400 if request.method == "POST" else 200


@bp.get("/password/forgot/sent")
def reset_sent():
    return render_template("access/reset_sent.html", minutes=int(resets.VALID_FOR.total_seconds() // 60))


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    reset = resets.open_reset(token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            resets.reset_password(token, form.password.data)
        except InvalidInput as exc:  # a password that breaks the rules: said on the field, the link still works
            db.session.rollback()
            _show_on_form(form, exc)
        else:
            db.session.commit()
            flash("Your password is changed. Every session of yours has ended and your API tokens are revoked. "
                  "Sign in with your new password.", "success")
            return redirect(url_for("auth.login"))
    return render_template("access/reset.html", form=form, reset=reset), 400 if request.method == "POST" else 200


# Invitations: the person's link ------------------------------------------------------------------------

@bp.route("/invitations/<token>", methods=["GET", "POST"])
def accept_invitation(token: str):
    invitation = invitations.open_invitation(token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = invitations.accept(token, form.password.data)
        except (InvalidInput, Conflict) as exc:  # the password's rules, or an account made meanwhile
            db.session.rollback()
            _show_on_form(form, exc)
        else:
            sign_in(user)  # commits the account with this browser's session
            flash(f"Welcome to reviewflow, {user.name}. Your account is ready.", "success")
            return redirect(url_for("articles.dashboard"))
    return render_template("access/accept.html", form=form, invitation=invitation), \
        400 if request.method == "POST" else 200


# Invitations: the admin's pages ------------------------------------------------------------------------

@bp.get("/admin/invitations")
@login_required
def admin_invitations():
    policy.require(current_user, "account.invite")
    return render_template("access/admin_invitations.html", invitations=invitations.open_invitations(),
                           now=utcnow())


@bp.route("/admin/invitations/new", methods=["GET", "POST"])
@login_required
def admin_invite():
    policy.require(current_user, "account.invite")
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation, _ = invitations.invite(current_user._get_current_object(), form.email.data, form.name.data,
                                               form.roles.data, bio=form.bio.data or "", profile=form.profile())
        except DomainError as exc:  # a field the service refused, or the address is taken: said on the form
            db.session.rollback()
            _show_on_form(form, exc)
        else:
            db.session.commit()
            flash(f"Invitation sent to {invitation.email}. The link works for seven days.", "success")
            return redirect(url_for("access.admin_invitations"))
    return render_template("access/admin_invite.html", form=form), 400 if request.method == "POST" else 200


@bp.post("/admin/invitations/<int:invitation_id>/resend")
@login_required
def admin_resend(invitation_id: int):
    policy.require(current_user, "account.invite")
    invitation = invitations.get_invitation(invitation_id)
    invitations.resend(current_user._get_current_object(), invitation)
    db.session.commit()
    flash(f"Invitation sent again to {invitation.email} with a new link; the earlier link no longer works.",
          "success")
    return redirect(url_for("access.admin_invitations"))


@bp.post("/admin/invitations/<int:invitation_id>/revoke")
@login_required
def admin_revoke(invitation_id: int):
    policy.require(current_user, "account.invite")
    invitation = invitations.get_invitation(invitation_id)
    invitations.revoke(current_user._get_current_object(), invitation)
    db.session.commit()
    flash(f"Invitation to {invitation.email} revoked. Its link now says so.", "success")
    return redirect(url_for("access.admin_invitations"))
