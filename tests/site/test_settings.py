"""Site settings: the logo, the "About our medical review" page and the medical disclaimer, edited by
admins on /admin/site, stored in site_settings, audited, and shown on the public site."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from reviewflow.errors import Forbidden, InvalidInput
from reviewflow.site import services as site
from reviewflow.site.models import SiteSetting
from tests.factories import events_after, last_seq


def post_settings(client, **values):
    """The settings form as an admin submits it (CSRF is off in the test configuration)."""
    return client.post("/admin/site", data={"logo_url": "", "editorial_policy": "", "disclaimer": "", **values})


def test_defaults_are_shown_before_anything_is_set(client, cast, published):
    article, _ = published
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "not a substitute for professional medical advice" in html  # the default disclaimer
    assert 'href="/about/medical-review"' in html
    page = client.get("/about/medical-review")
    assert page.status_code == 200 and "Who reviews our articles" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "public, max-age=1, must-revalidate" and "Set-Cookie" not in page.headers
    assert "X-Robots-Tag" not in page.headers  # the policy page is for search engines too
    assert 'class="brand-logo"' not in html


def test_an_admin_edits_the_settings_and_readers_see_them(app, client, login, cast, db, published):
    article, _ = published
    login(cast["admin"])
    assert client.get("/admin/site").status_code == 200
    seq = last_seq()
    r = post_settings(client, logo_url="/static/favicon.svg", editorial_policy="## Our reviewers\n\nDoctors *only*.",
                      disclaimer="Talk to **your doctor**.")
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/site")
    rows = {s.key: s for s in db.session.scalars(select(SiteSetting))}
    assert rows["disclaimer"].value == "Talk to **your doctor**."
    assert rows["disclaimer"].updated_by_id == cast["admin"].id
    events = [e for e in events_after(seq) if e.action == "site.setting_changed"]
    assert sorted(json.loads(e.details)["key"] for e in events) == ["disclaimer", "editorial_policy", "logo_url"]
    assert all(e.actor_id == cast["admin"].id and e.actor_role == "admin" for e in events)

    reader = app.test_client()
    html = reader.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "Talk to <strong>your doctor</strong>." in html
    assert re.search(r'<img class="brand-logo" src="/static/favicon.svg', html)
    policy = reader.get("/about/medical-review").get_data(as_text=True)
    assert '<h2>Our reviewers</h2>' in policy and "<em>only</em>" in policy
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1])
    assert data["publisher"]["logo"]["url"] == "http://localhost/static/favicon.svg"
    # Without an image of its own, the article is shared with the site's logo on a small card.
    assert '<meta property="og:image" content="http://localhost/static/favicon.svg">' in html
    assert '<meta name="twitter:card" content="summary">' in html


def test_saving_the_same_values_records_nothing_and_empty_restores_the_default(client, login, cast, db):
    login(cast["admin"])
    post_settings(client, disclaimer="Short disclaimer.")
    seq = last_seq()
    post_settings(client, disclaimer="Short disclaimer.")
    assert events_after(seq) == []
    post_settings(client, disclaimer="")  # back to the default
    assert [e.action for e in events_after(seq)] == ["site.setting_changed"]
    assert site.current().disclaimer == site.DEFAULT_DISCLAIMER
    # The form shows the default text; saving it unchanged stores nothing new.
    seq = last_seq()
    post_settings(client, editorial_policy=site.DEFAULT_POLICY, disclaimer=site.DEFAULT_DISCLAIMER)
    assert events_after(seq) == []


@pytest.mark.parametrize("logo", ["http://cdn.example/logo.png", "javascript:alert(1)", "data:image/png;base64,AA",
                                  "//evil.example/x.png", "logo.png", "/\\evil.example/x.png", "/a b.png"])
def test_a_logo_address_the_page_could_not_load_safely_is_refused(client, login, cast, db, logo):
    login(cast["admin"])
    seq = last_seq()
    r = post_settings(client, logo_url=logo)
    assert r.status_code == 400 and "logo" in r.get_data(as_text=True)
    assert events_after(seq) == [] and db.session.scalar(select(SiteSetting)) is None


def test_only_admins_edit_settings(client, login, cast, db):
    for who in ("editor", "writer", "rev"):
        login(cast[who])
        assert client.get("/admin/site").status_code == 403
        assert client.post("/admin/site", data={"disclaimer": "x"}).status_code == 403
    with pytest.raises(Forbidden):
        site.save_settings(cast["editor"], {"disclaimer": "x"})


def test_service_refuses_bad_text(db, cast):
    with pytest.raises(InvalidInput):
        site.save_settings(cast["admin"], {"disclaimer": "x" * (site.LIMITS["disclaimer"] + 1)})
    with pytest.raises(InvalidInput):
        site.save_settings(cast["admin"], {"editorial_policy": "bad \x00 byte"})
    assert site.save_settings(cast["admin"], {"logo_url": "https://cdn.example.org/logo.svg"}) == ["logo_url"]


def test_anonymous_visitors_are_sent_to_log_in(client):
    r = client.get("/admin/site")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
