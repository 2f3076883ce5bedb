"""The admins' webhook pages: endpoints (register, test ping, deactivate, delete) and their deliveries."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.errors import refusal_to
from reviewflow.extensions import db, utcnow
from reviewflow.textrules import counted
from reviewflow.webhooks import sender
from reviewflow.webhooks import services as webhooks
from reviewflow.webhooks.forms import EndpointForm

bp = Blueprint("webhooks", __name__)


def _admin():
    """The signed-in admin (403 for anyone else)."""
    actor = current_user._get_current_object()
    policy.require(actor, "admin.manage")
    return actor


def _outcome(delivery, what: str) -> None:
    """Flash what one immediate attempt got."""
    if delivery is None:
        flash(f"The {what} is queued; the next run of send-webhooks delivers it.", "info")
    elif delivery.delivered_at is not None:
        flash(f"The {what} was delivered: the receiver answered {delivery.last_status}.", "success")
    else:
        then = ("It is set aside; retry it from the deliveries list once the receiver is fixed."
                if delivery.set_aside_at else "It will be tried again later.")
        flash(f"The {what} was not delivered. {delivery.last_error} {then}", "error")


@bp.get("/admin/webhooks")
@login_required
def endpoints():
    """Every endpoint with its events, state and waiting and set-aside deliveries (admins)."""
    _admin()
    items, creators, counts = webhooks.endpoint_list()
    return render_template("admin/webhooks.html", endpoints=items, creators=creators, counts=counts,
                           events=webhooks.EVENTS)


@bp.route("/admin/webhooks/new", methods=["GET", "POST"])
@login_required
def new_endpoint():
    """Register an endpoint; the answer shows its signing secret, this once (admins)."""
    actor = _admin()
    form = EndpointForm()
    with refusal_to(form, field="url") as refused:  # e.g. http:// to another host: shown on the form
        if form.validate_on_submit():
            endpoint, secret = webhooks.create_endpoint(actor, form.url.data, form.description.data, form.events.data)
            db.session.commit()
            return render_template("admin/webhooks_created.html", created=endpoint, secret=secret,
                                   events=webhooks.EVENTS)
    return render_template("admin/webhooks_new.html", form=form), refused.status


@bp.post("/admin/webhooks/<int:endpoint_id>/ping")
@login_required
def ping(endpoint_id: int):
    """Send the endpoint a signed test delivery now and say what its receiver answered."""
    actor = _admin()
    delivery = webhooks.ping_endpoint(actor, webhooks.get_endpoint(endpoint_id))
    db.session.commit()
    _outcome(sender.send_now(delivery.id), "test ping")
    return redirect(url_for("webhooks.endpoints"), 303)


@bp.post("/admin/webhooks/<int:endpoint_id>/deactivate")
@login_required
def deactivate(endpoint_id: int):
    endpoint = webhooks.set_endpoint_active(_admin(), webhooks.get_endpoint(endpoint_id), False)
    db.session.commit()
    flash(f"{endpoint.url} is inactive: no new deliveries are queued for it, and its waiting ones are held "
          "until you activate it again.", "success")
    return redirect(url_for("webhooks.endpoints"), 303)


@bp.post("/admin/webhooks/<int:endpoint_id>/activate")
@login_required
def activate(endpoint_id: int):
    endpoint = webhooks.set_endpoint_active(_admin(), webhooks.get_endpoint(endpoint_id), True)
    db.session.commit()
    flash(f"{endpoint.url} is active again; its waiting deliveries go out with the next run of send-webhooks.",
          "success")
    return redirect(url_for("webhooks.endpoints"), 303)


@bp.post("/admin/webhooks/<int:endpoint_id>/delete")
@login_required
def delete(endpoint_id: int):
    actor = _admin()
    endpoint = webhooks.get_endpoint(endpoint_id)
    url = endpoint.url
    count = webhooks.delete_endpoint(actor, endpoint)
    db.session.commit()
    flash(f"{url} is deleted, with its {counted(count, 'delivery', 'deliveries')}.", "success")
    return redirect(url_for("webhooks.endpoints"), 303)


@bp.get("/admin/webhooks/deliveries")
@login_required
def deliveries():
    """Deliveries newest first, with what each receiver last answered; filtered by endpoint and status."""
    _admin()
    endpoint_id = request.args.get("endpoint_id", type=int)
    status = request.args.get("status") if request.args.get("status") in webhooks.STATUSES else None
    keyset = webhooks.DELIVERY_KEYSET
    page = webhooks.delivery_page(keyset.read(request.args), current_app.config["PER_PAGE"], endpoint_id, status)
    keyset.link(page, "webhooks.deliveries", endpoint_id=endpoint_id, status=status)
    return render_template("admin/webhooks_deliveries.html", page=page, endpoints=webhooks.endpoints_by_id(),
                           endpoint_id=endpoint_id, status=status, now=utcnow(), max_attempts=sender.MAX_ATTEMPTS)


@bp.post("/admin/webhooks/deliveries/<int:delivery_id>/retry")
@login_required
def retry(delivery_id: int):
    """Send a set-aside delivery again now and say what its receiver answered."""
    delivery = webhooks.retry_delivery(_admin(), webhooks.get_delivery(delivery_id))
    db.session.commit()
    _outcome(sender.send_now(delivery.id), f"delivery {delivery_id}")
    return redirect(url_for("webhooks.deliveries", status="set_aside"), 303)
