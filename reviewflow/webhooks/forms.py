"""The admin's form for registering a webhook endpoint (the services check it again)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.fields import URLField
from wtforms.validators import DataRequired, Length, Optional

from reviewflow.auth.forms import MultiCheckboxField
from reviewflow.webhooks.services import DESCRIPTION_MAX, EVENTS, URL_MAX


class EndpointForm(FlaskForm):
    url = URLField("Endpoint URL", validators=[DataRequired(), Length(max=URL_MAX)],
                   description="Where the publisher's CMS receives them: an https:// address "
                               "(plain http:// only to this machine, for development).")
    description = StringField("Description", validators=[Optional(), Length(max=DESCRIPTION_MAX)],
                              description="Who runs it and what it does, e.g. \"CMS: refresh article pages\".")
    #: No DataRequired here: it would mark every box ``required`` and the browser would want them all ticked.
    #: The service refuses an empty choice, and the view shows that on this field.
    events = MultiCheckboxField("Events to send", choices=list(EVENTS.items()))
