"""Forms of the account and admin pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from reviewflow.auth.models import Role
from reviewflow.auth.services import VERIFICATION_METHOD_MAX


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=1024)],
                                 description="At least 12 characters. Your other sessions will end.")


class TokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=120)],
                       description="What the token is for, e.g. \"CMS sync\".")
    expires = SelectField("Expires", choices=[("", "Never (until you revoke it)"), ("7", "In 7 days"),
                                              ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")],
                          default="90", validators=[Optional()],
                          description="After that, programs using it get 401 Unauthorized.")
    password = PasswordField("Your password", validators=[DataRequired(), Length(max=1024)],
                             description="A token acts as you: confirm it is you.")

    def lifetime(self) -> int | None:
        """The chosen lifetime in days (None: never expires); anything else is left to the service to refuse."""
        return int(self.expires.data) if (self.expires.data or "").isdigit() else None


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    roles = MultiCheckboxField("Roles", choices=[(r.value, r.label) for r in Role],
                               validators=[DataRequired(message="Choose at least one role.")])
    bio = TextAreaField("Short bio", validators=[Optional(), Length(max=2000)],
                        description="Shown on the public writer and reviewer pages.")
    active = BooleanField("Active", default=True, description="Inactive people cannot sign in or be assigned.")


class NewUserForm(UserForm):
    password = PasswordField("Initial password", validators=[DataRequired(), Length(min=12, max=1024)],
                             description="At least 12 characters; ask them to change it after signing in.")


class ProfileForm(FlaskForm):
    credentials = StringField("Post-nominal credentials", validators=[DataRequired(), Length(max=120)],
                              description="As printed after the name, e.g. \"M.D., Ph.D.\".")
    specialty = StringField("Specialty", validators=[DataRequired(), Length(max=120)])
    license_number = StringField("Licence number", validators=[DataRequired(), Length(max=64)])
    license_jurisdiction = StringField("Licence jurisdiction", validators=[Optional(), Length(max=120)])
    license_expires = DateField("Licence expires", validators=[DataRequired()])
    affiliation = StringField("Affiliation", validators=[Optional(), Length(max=200)])
    organization = StringField("Review organisation", validators=[Optional(), Length(max=200)],
                               description="Shown as \"Review provided by …\".")
    bio = TextAreaField("Reviewer bio", validators=[Optional(), Length(max=2000)])


class VerifyForm(FlaskForm):
    """How an admin checked a reviewer's current credentials: kept with the verification and shown with it.

    Field name ``method``, unprefixed, as the verify URL and ``verify-credentials --method`` take it.
    """

    method = StringField(
        "How did you check them?",
        validators=[DataRequired(message="Say how you checked the credentials, for example “Licence looked up in "
                                         "the issuing board’s public register”. Nothing was recorded."),
                    Length(max=VERIFICATION_METHOD_MAX)],
        description="For example “Licence looked up in the issuing board’s public register” or “Board "
                    "certificate checked with the certifying board”. Shown with the verification to editors, "
                    "on certificates and on the reviewer’s public page.")


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       description="The address you sign in with.")


class NewPasswordForm(FlaskForm):
    """Choose a password: on an invitation or a reset link."""

    password = PasswordField("New password", validators=[DataRequired(), Length(min=12, max=1024)],
                             description="At least 12 characters.")
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])


class InviteForm(FlaskForm):
    """An invitation: who, with which roles; for a reviewer, the credentials to verify after they accept."""

    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    roles = MultiCheckboxField("Roles", choices=[(r.value, r.label) for r in Role],
                               validators=[DataRequired(message="Choose at least one role.")])
    bio = TextAreaField("Short bio", validators=[Optional(), Length(max=2000)],
                        description="Shown on the public writer and reviewer pages.")
    credentials = StringField("Post-nominal credentials", validators=[Optional(), Length(max=120)],
                              description="Reviewers only, as printed after the name, e.g. \"M.D., Ph.D.\".")
    specialty = StringField("Specialty", validators=[Optional(), Length(max=120)], description="Reviewers only.")
    license_number = StringField("Licence number", validators=[Optional(), Length(max=64)],
                                 description="Reviewers only.")
    license_jurisdiction = StringField("Licence jurisdiction", validators=[Optional(), Length(max=120)])
    license_expires = DateField("Licence expires", validators=[Optional()], description="Reviewers only.")
    affiliation = StringField("Affiliation", validators=[Optional(), Length(max=200)])
    organization = StringField("Review organisation", validators=[Optional(), Length(max=200)],
                               description="Shown as \"Review provided by …\".")

    PROFILE = ("credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
               "affiliation", "organization")

    def profile(self) -> dict | None:
        """The credential fields for a reviewer (checked by the service), else None."""
        if "reviewer" not in (self.roles.data or []):
            return None
        return {k: getattr(self, k).data for k in self.PROFILE}


class CodeForm(FlaskForm):
    """A code from the authenticator app (sign-in's second step, confirming a set-up) or a recovery code."""

    code = StringField("Code", validators=[DataRequired(message="Enter the code from your authenticator app."),
                                           Length(max=32)])


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password."), Length(max=1024)])
    code = StringField("Code from your app, or a recovery code",
                       validators=[DataRequired(message="Enter the current code from your app."), Length(max=32)])
