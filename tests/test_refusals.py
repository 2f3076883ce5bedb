"""``refusal_to``: a service's refusal shown on the form that asked for it, with its status."""
from __future__ import annotations

import pytest
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired

from reviewflow.errors import Conflict, Forbidden, InvalidInput, StaleRevision, refusal_to


class Form(FlaskForm):
    class Meta:
        csrf = False

    title = StringField(validators=[DataRequired()])
    comment = StringField()
    base = HiddenField()


@pytest.fixture
def form(app):
    with app.test_request_context(method="POST", data={"title": "T"}):
        yield Form()


def test_a_refusal_goes_beside_the_field_it_names(form):
    with refusal_to(form) as refused:
        raise InvalidInput("The title is too long.", field="title")
    assert form.title.errors == ["The title is too long."] and not form.form_errors
    assert refused and refused.status == 400 and refused.message == "The title is too long."


def test_a_field_named_with_a_gloss_is_that_field(form):
    with refusal_to(form):
        raise InvalidInput("Say what must change.", field="comment (what must change)")
    assert form.comment.errors == ["Say what must change."]


@pytest.mark.parametrize("field", [None, "base", "decision", "data"])
def test_a_refusal_of_no_shown_field_goes_above_the_form_or_to_the_default(form, field):
    with refusal_to(form) as refused:
        raise Conflict("Not now.", field=field)
    assert form.form_errors == ["Not now."] and refused.status == 409
    with refusal_to(form, field="title"):
        raise Conflict("Not now either.", field=field)
    assert form.title.errors == ["Not now either."]


def test_only_the_kinds_asked_for_are_caught(form):
    with pytest.raises(Forbidden), refusal_to(form, InvalidInput):
        raise Forbidden("No part in this.")
    with pytest.raises(KeyError), refusal_to(form):
        raise KeyError("not a refusal")
    assert not form.errors


def test_the_status_is_the_refusals_else_the_forms(form):
    with refusal_to(form) as refused:
        pass
    assert not refused and refused.status == 200 and refused.message is None
    form.title.errors = ["Required."]
    assert refused.status == 400


def test_without_a_form_the_view_shows_the_message(app):
    with app.test_request_context(), refusal_to(None, StaleRevision) as stale:
        raise StaleRevision("Revision 3 was saved after yours.")
    assert stale.status == 409 and stale.message == "Revision 3 was saved after yours."
