"""The rules of sources through the services and the pages: every state for the two source
transitions, footnote parsing and rendering, the writer's preview, the public page, JSON-LD,
the version history and the certificate.
"""
from __future__ import annotations

import json
import re

import pytest

from reviewflow.articles import services as articles
from reviewflow.articles.rendering import render_markdown
from reviewflow.errors import Conflict, Forbidden, InvalidInput, SourcesUnchecked
from reviewflow.extensions import db
from reviewflow.notifications import services as notices
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from reviewflow.sources import status
from reviewflow.sources.parsing import citation_problems, sources_of
from tests.factories import CHECKLIST, PASSWORD, event_count, events_after, last_seq, make_article, make_user
from tests.sources.test_sources_api import CITED


def _approve(reviewer, article):
    reviews.sign_decision(reviewer, article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)


def _support_all(reviewer, article):
    for state in status.unsupported(article):
        sources.check_source(reviewer, article, article.current_revision, state.key, "supports")


def _published(cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    _support_all(cast["rev"], article)
    _approve(cast["rev"], article)
    publishing.publish_revision(cast["editor"], article, article.current_revision, "First published.")
    db.session.commit()
    return article


# Parsing and rendering ----------------------------------------------------------------------------

def test_sources_are_numbered_by_first_citation_and_keep_their_text():
    found = sources_of(CITED)
    assert [(s["position"], s["key"]) for s in found] == [(1, "aad"), (2, "nhs")]
    assert found[0]["text"].startswith("American Academy of Dermatology")
    assert found[0]["text_hash"] != found[1]["text_hash"]
    # White space does not change a source; words do.
    spaced = CITED.replace("Eczema types:", "Eczema   types:")
    assert sources_of(spaced)[0]["text_hash"] == found[0]["text_hash"]
    assert sources_of(CITED.replace("2024", "2025"))[1]["text_hash"] != found[1]["text_hash"]


def test_problems_name_undefined_and_uncited_footnotes():
    problems = citation_problems("A claim.[^gone]\n\nAnother.[^ok]\n\n[^ok]: NHS page. https://www.nhs.uk/\n"
                                 "[^spare]: Never cited. https://example.org/\n[^bare]: No address at all.\n")
    assert any("[^gone] is cited but has no definition" in p for p in problems)
    assert any("[^spare] is defined but never cited" in p for p in problems)
    assert not any("[^ok]" in p for p in problems)
    assert citation_problems(CITED) == []


def test_a_cited_source_without_an_address_is_a_problem():
    assert any("no web address or DOI" in p for p in citation_problems("X.[^a]\n\n[^a]: A leaflet.\n"))


def test_citations_render_as_numbered_links_and_definitions_leave_the_body():
    html = render_markdown(CITED)
    assert re.findall(r'<a href="#source-(\d)"', html) == ["1", "2", "1"]
    assert "American Academy of Dermatology" not in html  # the list is drawn by the page, with its checks
    assert "[^" not in html
    hostile = render_markdown('X[^a]\n\n[^a]: <script>alert(1)</script> "><img src=x onerror=alert(1)>\n')
    assert "<script" not in hostile and "onerror" not in hostile


# The two transitions in every state ---------------------------------------------------------------

@pytest.mark.parametrize("state", ["draft", "in_review", "changes_requested", "approved", "published",
                                   "unpublished"])
def test_check_source_is_taken_in_review_states_only(cast, state):
    """An assigned reviewer checks sources in in_review, changes_requested and approved; elsewhere 409.
    (A submitted article has no assigned reviewer, so nobody may check: 403, in the API tests.)"""
    w, rev, ed = cast["writer"], cast["rev"], cast["editor"]
    article = make_article(w, "in_review" if state != "draft" else "draft", reviewer=rev, editor=ed, body=CITED)
    if state == "draft":
        reviews.assign_reviewer(ed, article, rev.id)
    if state in ("changes_requested",):
        reviews.sign_decision(rev, article, 1, "request_changes", PASSWORD, comment="Needs work.")
    if state in ("approved", "published", "unpublished"):
        _support_all(rev, article)
        _approve(rev, article)
    if state in ("published", "unpublished"):
        publishing.publish_revision(ed, article, 1)
    if state == "unpublished":
        publishing.unpublish_article(ed, article, "Withdrawn.")
    db.session.commit()
    assert article.state == state
    before = event_count()
    allowed = state in ("in_review", "changes_requested", "approved")
    if allowed:
        sources.check_source(rev, article, 1, "nhs", "outdated", "A newer page exists.")
        db.session.commit()
        assert event_count() == before + 1
        assert article.state == ("changes_requested" if state == "changes_requested" else "in_review")
    else:
        with pytest.raises(Conflict):
            sources.check_source(rev, article, 1, "nhs", "supports")
        db.session.rollback()
        assert event_count() == before


def test_a_negative_verdict_takes_an_approved_article_back_to_review(cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    _support_all(cast["rev"], article)
    _approve(cast["rev"], article)
    db.session.commit()
    assert article.state == "approved"
    sources.check_source(cast["rev"], article, 1, "aad", "inaccessible", "The DOI does not resolve.")
    db.session.commit()
    assert article.state == "in_review"
    with pytest.raises(SourcesUnchecked):
        _approve(cast["rev"], article)
    db.session.rollback()
    sources.check_source(cast["rev"], article, 1, "aad", "supports", "Resolves now.")
    db.session.commit()
    assert article.state == "approved"  # the approval on this revision still stands


@pytest.mark.parametrize("state", ["draft", "in_review", "published", "unpublished"])
def test_flag_source_needs_a_live_version(cast, state):
    if state in ("published", "unpublished"):
        article = _published(cast)
        if state == "unpublished":
            publishing.unpublish_article(cast["editor"], article, "Withdrawn.")
            db.session.commit()
    else:
        article = make_article(cast["writer"], state, reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    if state == "published":
        sources.flag_source(cast["editor"], article, "nhs", "Replaced.")
        db.session.commit()
        assert article.state == "published"
        flagged = sources.flagged_for_rereview()
        assert [(a.id, [c.key for c in flags]) for a, flags in flagged] == [(article.id, ["nhs"])]
    else:
        with pytest.raises(Conflict):
            sources.flag_source(cast["editor"], article, "nhs", "Replaced.")
        db.session.rollback()


def test_who_may_flag(cast):
    article = _published(cast)
    with pytest.raises(Forbidden):
        sources.flag_source(cast["writer"], article, "nhs", "Replaced.")
    db.session.rollback()
    with pytest.raises(InvalidInput):
        sources.flag_source(cast["editor"], article, "nhs", "")  # a flag says why
    db.session.rollback()
    with pytest.raises(InvalidInput):
        sources.flag_source(cast["editor"], article, "unknown", "Replaced.")
    db.session.rollback()
    sources.flag_source(cast["rev"], article, "aad", "The DOI moved.")  # an assigned reviewer may flag
    db.session.commit()
    assert sources.flagged_for_rereview()[0][1][0].checker_id == cast["rev"].id


def test_starting_the_rereview_takes_the_article_off_the_flagged_list(cast):
    article = _published(cast)
    sources.flag_source(cast["editor"], article, "nhs", "Replaced.")
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)
    db.session.commit()
    assert article.state == "in_review" and sources.flagged_for_rereview() == []


# Pages -----------------------------------------------------------------------------------------

def test_public_page_lists_sources_with_who_checked_them_and_json_ld_cites_them(client, login, cast):
    article = _published(cast)
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    sources_part = html.split('id="sources-heading"')[1].split("</section>")[0]
    assert sources_part.count("<li id=\"source-") == 2
    assert "Checked by" in sources_part and "Dana Okafor" in sources_part
    assert 'href="https://www.nhs.uk/conditions/atopic-eczema/treatment/"' in sources_part
    data = json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))
    assert [c["@type"] for c in data["citation"]] == ["CreativeWork", "CreativeWork"]
    assert data["citation"][1]["url"] == "https://www.nhs.uk/conditions/atopic-eczema/treatment/"
    assert data["citation"][0]["name"].startswith("American Academy of Dermatology")


def test_version_history_says_when_sources_changed(client, login, cast):
    article = _published(cast)
    body = CITED.replace("reviewed 2024.", "reviewed 2025.")
    articles.save_revision(cast["writer"], article, "Winter eczema", body, 1, "Newer NHS page")
    articles.submit_article(cast["writer"], article)
    db.session.commit()
    sources.check_source(cast["rev"], article, 2, "nhs", "supports")
    _approve(cast["rev"], article)
    publishing.publish_revision(cast["editor"], article, 2, "Newer NHS page.")
    db.session.commit()
    html = client.get(f"/articles/{article.slug}/v2").get_data(as_text=True)
    assert "Sources changed: updated source 2." in html
    html1 = client.get(f"/articles/{article.slug}/v1").get_data(as_text=True)
    assert "Sources changed" not in html1


def test_certificate_lists_each_source_with_its_verdicts(client, login, cast):
    article = _published(cast)
    login(cast["editor"])
    html = client.get(f"/work/articles/{article.id}/versions/1/certificate").get_data(as_text=True)
    part = html.split('id="sources-heading"')[1].split("</section>")[0]
    assert part.count("Supports the text") == 2 and "[^aad]" in part and "[^nhs]" in part


def test_preview_shows_sources_and_problems(client, login, cast):
    login(cast["writer"])
    html = client.post("/work/preview", data={"body": "Claim.[^a] More.[^b]\n\n[^a]: WHO. https://www.who.int/\n"}
                       ).get_data(as_text=True)
    assert 'id="source-1"' in html and "https://www.who.int/" in html
    assert "[^b] is cited but has no definition" in html


def test_workspace_shows_a_verdict_form_per_source_and_refuses_beside_it(client, login, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    login(cast["rev"])
    html = client.get(f"/work/articles/{article.id}/review").get_data(as_text=True)
    assert html.count('name="verdict" value="supports"') == 2 and "0 of 2 supported" in html
    response = client.post(f"/work/articles/{article.id}/source-checks",
                           data={"revision": "1", "key": "nhs", "verdict": "does_not_support", "comment": ""})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="verdict-nhs-error"' in page and "comment" in page.split('id="verdict-nhs-error"')[1][:300]
    response = client.post(f"/work/articles/{article.id}/source-checks",
                           data={"revision": "1", "key": "nhs", "verdict": "supports", "comment": ""})
    assert response.status_code == 303
    assert "1 of 2 supported" in client.get(f"/work/articles/{article.id}/review").get_data(as_text=True)


def test_writer_sees_a_blocking_verdict_beside_the_footnote(client, login, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    sources.check_source(cast["rev"], article, 1, "nhs", "does_not_support", "Says nothing about showers.")
    db.session.commit()
    login(cast["writer"])
    html = client.get(f"/work/articles/{article.id}/edit").get_data(as_text=True)
    part = html.split('id="writer-source-nhs"')[1].split("</li>")[0]
    assert "Blocks approval" in part and "Says nothing about showers." in part


def test_dashboard_lists_a_flagged_article_with_the_reason(client, login, cast):
    article = _published(cast)
    sources.flag_source(cast["editor"], article, "nhs", "NHS replaced this page.")
    db.session.commit()
    login(cast["editor"])
    html = client.get("/dashboard").get_data(as_text=True)
    part = html.split("Sources flagged as outdated")[1].split("</table>")[0]
    assert article.title in part and "NHS replaced this page." in part and "Start re-review" in part


@pytest.mark.parametrize("field, value", [("revision", "abc"), ("revision", ""), ("revision", "99999999999999"),
                                          ("verdict", "maybe"), ("verdict", ""), ("key", ""), ("key", "zz")])
def test_bad_verdict_forms_are_refused_beside_the_source_never_a_500(client, login, cast, field, value):
    """Found by mutation: the page's form sends text, so every check of the service's own is needed."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    login(cast["rev"])
    before = event_count()
    form = {"revision": "1", "key": "nhs", "verdict": "supports", "comment": "", field: value}
    response = client.post(f"/work/articles/{article.id}/source-checks", data=form)
    # A revision number too large to exist is 404 (PRODUCT.md: such ids get 404 or 400); other bad input
    # is 400, the page again with the refusal beside the source.
    assert response.status_code == (404 if value == "99999999999999" else 400), response.status_code
    assert event_count() == before


@pytest.mark.parametrize("revision, key, verdict, comment", [
    (True, "nhs", "supports", ""), (1.5, "nhs", "supports", ""), ("1", 7, "supports", ""),
    (1, "nhs", "outdated", 42), (1, "nhs", "outdated", None)])
def test_the_service_refuses_wrong_types_itself(cast, revision, key, verdict, comment):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    with pytest.raises(InvalidInput):
        sources.check_source(cast["rev"], article, revision, key, verdict, comment)
    db.session.rollback()


def test_a_flag_is_an_audit_event_with_the_flaggers_role_and_tells_the_other_editors(cast):
    """Found by mutation: the flag's event, its role, and who is told."""
    article = _published(cast)
    other_editor = make_user("editor", name="Nia Other")
    seq = last_seq()
    sources.flag_source(cast["editor"], article, "nhs", "Replaced.")
    sources.flag_source(cast["rev"], article, "aad", "Moved.")
    db.session.commit()
    events = [(e.action, e.actor_id, e.actor_role) for e in events_after(seq)]
    assert events == [("source.flagged", cast["editor"].id, "editor"), ("source.flagged", cast["rev"].id, "reviewer")]
    told = [n.text for n in notices.recent(other_editor)]
    assert any("[^nhs]" in t and "flagged as outdated" in t for t in told)
    assert not any("[^nhs]" in n.text for n in notices.recent(cast["editor"]))  # not told of their own flag


def test_the_writer_is_told_of_a_negative_verdict_only(cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"], body=CITED)
    sources.check_source(cast["rev"], article, 1, "aad", "supports")
    sources.check_source(cast["rev"], article, 1, "nhs", "inaccessible", "The page gives a 404.")
    db.session.commit()
    told = [n.text for n in notices.recent(cast["writer"])]
    assert any("[^nhs]" in t and "could not be read" in t for t in told)
    assert not any("[^aad]" in t for t in told)
