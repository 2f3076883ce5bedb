"""Forms of the account and admin pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional
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


class CodeForm(FlaskForm):
    """A code from the authenticator app (sign-in's second step, confirming a set-up) or a recovery code."""

    code = StringField("Code", validators=[DataRequired(message="Enter the code from your authenticator app."),
                                           Length(max=32)])


class DisableTwoFactorForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password."), Length(max=1024)])
    code = StringField("Code from your app, or a recovery code",
                       validators=[DataRequired(message="Enter the current code from your app."), Length(max=32)])
