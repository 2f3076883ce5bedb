"""The public site: article pages from the signed record, JSON-LD, versions, caching, lists, profiles, feeds."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from html import unescape

import pytest
from sqlalchemy import event, text, update

from reviewflow.articles import services as articles
from reviewflow.articles.models import Article
from reviewflow.auth import services as accounts
from reviewflow.errors import InvalidInput
from reviewflow.public import pagecache
from reviewflow.publishing import services as publishing
from reviewflow.publishing.models import PublishedVersion
from reviewflow.reviews import services as reviews
from tests.factories import BODY, CHECKLIST, PASSWORD, make_article, make_user
from tests.publishing.test_services import HOSTILE, unsafe_parts

LD = re.compile(r'<script type="application/ld\+json">(.*?)</script>', re.S)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def json_ld(html: str) -> dict:
    [raw] = LD.findall(html)
    return json.loads(raw)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _update_to_v2(db, cast, article, extra: str = "\nHumidifiers at night also help.\n"):
    articles.save_revision(cast["writer"], article, "Eczema in winter", BODY + extra, article.current_revision,
                           "Add humidifiers")
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    publishing.publish_revision(cast["editor"], article, article.current_revision, "Updated to add humidifiers.")
    db.session.commit()


def test_article_page_reads_from_the_signed_record(client, cast, published):
    article, other = published
    r = client.get(f"/articles/{article.slug}")
    html = r.get_data(as_text=True)
    text = text_of(html)
    assert r.status_code == 200
    assert "<h1" in html and "Eczema in winter" in text
    assert f'<a href="/reviewers/{cast["rev"].id}">Dana Okafor, M.D., Ph.D.</a>' in html
    assert f'<a href="/writers/{cast["writer"].id}">Wren Alder</a>' in html
    assert "Medically reviewed by Dana Okafor, M.D., Ph.D. · Written by Wren Alder" in text
    version = publishing.live_version_of(article)
    day = f"{version.published_at.day} {version.published_at:%b %Y}"  # the one date format: 7 Dec 2026
    assert f"Posted on {day}" in text and f"Medically reviewed on {day}" in text
    assert "Updated on" not in text.split("Short lukewarm")[0]  # one version only
    assert "Short lukewarm showers help more than long hot baths." in text
    # Name and credentials, then specialty and affiliation, then the bio in the reviewer's own words.
    assert ("About the reviewer Dana Okafor, M.D., Ph.D. Dermatology · Lakeside Skin Clinic · "
            "review provided by Northwind Review Network") in text
    assert "is a specialist in" not in text
    assert "Dana treats skin conditions" in text
    assert "About the writer Wren Alder A bio." in text
    assert "<details>" in html and "How we reviewed this article" in text
    assert f'href="/articles/{article.slug}/v1"' in html and "First published." in text
    recent = html.split('id="recent-heading"')[1]
    assert other.title in recent and f">{article.title}<" not in recent  # other articles only


def test_json_ld_is_a_medical_web_page_checked_field_by_field(client, cast, db, published):
    article, _ = published
    _update_to_v2(db, cast, article)
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    data = json_ld(html)
    v1, v2 = publishing.versions_of(article.id)
    assert data["@context"] == "https://schema.org" and data["@type"] == "MedicalWebPage"
    assert data["name"] == data["headline"] == "Eczema in winter"
    assert data["url"] == f"http://localhost/articles/{article.slug}"
    assert data["about"] == {"@type": "Thing", "name": "Dermatology"}
    assert data["datePublished"] == iso(v1.published_at)
    assert data["dateModified"] == iso(v2.published_at)
    assert data["lastReviewed"] == v2.last_reviewed_at.astimezone(UTC).date().isoformat()  # a schema.org Date
    assert data["author"] == {"@type": "Person", "name": "Wren Alder",
                              "url": f"http://localhost/writers/{cast['writer'].id}"}
    [person] = data["reviewedBy"]
    assert person["@type"] == "Person" and person["name"] == "Dana Okafor"
    assert person["honorificSuffix"] == "M.D., Ph.D."
    assert "medicalSpecialty" not in person  # defined for Physician and organisations, not Person
    assert person["jobTitle"] == "Specialist in Dermatology" and person["knowsAbout"] == "Dermatology"
    assert person["affiliation"] == {"@type": "Organization", "name": "Lakeside Skin Clinic"}
    assert person["url"] == f"http://localhost/reviewers/{cast['rev'].id}"
    assert [c["name"] for c in person["hasCredential"]] == ["M.D.", "Ph.D."]
    for credential in person["hasCredential"]:
        assert credential["@type"] == "EducationalOccupationalCredential" and credential["credentialCategory"]


def test_json_ld_cannot_be_broken_out_of(client, cast, db):
    title = "Itch </script><script>alert(1)</script> & more"
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title=title,
                           body=HOSTILE)
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert json_ld(html)["headline"] == title
    assert unsafe_parts(html, allowed_scripts=2) == []  # app.js and the JSON-LD only
    assert "<script>alert" not in html


def test_a_newer_draft_never_reaches_the_public_page(client, cast, db, published):
    article, _ = published
    articles.save_revision(cast["writer"], article, "Eczema in winter (draft)", BODY + "\nSECRET DRAFT\n", 1, "d")
    db.session.commit()
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "SECRET DRAFT" not in html and "(draft)" not in html
    articles.submit_article(cast["writer"], article)
    reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert "SECRET DRAFT" not in html  # approved but not published


def test_version_history_lists_every_version_with_permanent_urls(client, cast, db, published):
    article, _ = published
    _update_to_v2(db, cast, article)
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    text = text_of(html)
    history = text.split("How we reviewed this article")[1]
    assert "Version 2" in history and "Version 1" in history
    assert history.index("Version 2") < history.index("Version 1")  # newest first
    assert "Updated to add humidifiers." in history and "First published." in history
    assert history.count("Medically reviewed by Dana Okafor, M.D., Ph.D.") == 2
    assert "Humidifiers at night" in text and "Updated on" in text

    old = client.get(f"/articles/{article.slug}/v1")
    assert old.status_code == 200
    assert old.headers["Cache-Control"] == "public, max-age=1, must-revalidate"  # it may be withdrawn
    old_text = text_of(old.get_data(as_text=True))
    assert "You are reading version 1 of this article" in old_text and "See the latest version" in old_text
    assert "Humidifiers at night" not in old_text
    assert "Version 2" not in old_text.split("How we reviewed this article")[1]  # history as of version 1
    assert json_ld(old.get_data(as_text=True))["url"] == f"http://localhost/articles/{article.slug}"  # canonical
    assert f'<link rel="canonical" href="http://localhost/articles/{article.slug}">' in old.get_data(as_text=True)
    assert client.get(f"/articles/{article.slug}/v2").status_code == 200
    assert client.get(f"/articles/{article.slug}/v3").status_code == 404
    assert client.get(f"/articles/{article.slug}/v0").status_code == 404
    assert client.get(f"/articles/{article.slug}/v99999999999999999999").status_code == 404


def test_credentials_on_the_page_stay_as_signed(client, cast, db, published):
    article, _ = published
    accounts.save_profile(cast["admin"], cast["rev"], {
        "credentials": "M.D., Ph.D., FAAD", "specialty": "Pediatric dermatology", "license_number": "GA-99",
        "license_expires": "2099-03-31", "affiliation": "Harbor Children's Hospital",
        "organization": "Northwind Review Network"})
    db.session.commit()
    page = text_of(client.get(f"/articles/{article.slug}").get_data(as_text=True))
    assert "Dana Okafor, M.D., Ph.D. Dermatology · Lakeside Skin Clinic" in page
    assert "FAAD" not in page and "Harbor" not in page
    profile = text_of(client.get(f"/reviewers/{cast['rev'].id}").get_data(as_text=True))
    assert "Dana Okafor, M.D., Ph.D., FAAD" in profile and "Pediatric dermatology" in profile
    assert "Harbor Children's Hospital" in profile and article.title in profile


def test_rereview_without_text_change_shows_a_new_review_date(client, api, cast, db, published):
    article, _ = published
    first = publishing.live_version_of(article)
    r = api(cast["editor"], "POST", f"/articles/{article.id}/assignments", json={"reviewer_id": cast["rev"].id})
    assert r.status_code == 201
    assert "Short lukewarm" in client.get(f"/articles/{article.slug}").get_data(as_text=True)  # still live
    r = api(cast["rev"], "POST", f"/articles/{article.id}/decisions",
            json={"revision": article.current_revision, "decision": "approve", "password": PASSWORD,
                  "checklist": CHECKLIST})
    assert r.status_code == 201
    db.session.expire_all()
    second = publishing.live_version_of(db.session.get(Article, article.id))
    assert (second.version, second.kind, second.content_hash) == (2, "rereview", first.content_hash)
    assert second.last_reviewed_at > first.last_reviewed_at
    html = client.get(f"/articles/{article.slug}").get_data(as_text=True)
    assert json_ld(html)["lastReviewed"] == second.last_reviewed_at.astimezone(UTC).date().isoformat()
    assert "Re-review, text unchanged" in text_of(html)


def test_unpublished_article_answers_410_with_the_reason(client, cast, db, published):
    article, _ = published
    assert client.get(f"/articles/{article.slug}").status_code == 200
    publishing.unpublish_article(cast["editor"], article, "Withdrawn while we update it to new guidance.")
    db.session.commit()
    r = client.get(f"/articles/{article.slug}")
    assert r.status_code == 410
    text = text_of(r.get_data(as_text=True))
    assert "no longer published" in text and "Withdrawn while we update it to new guidance." in text
    assert "Short lukewarm" not in text and "ETag" not in r.headers
    assert client.get(f"/articles/{article.slug}/v1").status_code == 410
    assert article.title not in text_of(client.get("/articles").get_data(as_text=True))


def test_unknown_and_unpublished_slugs_are_404(client, cast, db):
    draft = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    assert client.get(f"/articles/{draft.slug}").status_code == 404
    assert client.get("/articles/no-such-article").status_code == 404
    assert client.get("/articles/" + "x" * 300).status_code == 404


def test_conditional_requests_and_cache_headers(client, cast, db, published):
    article, _ = published
    version = publishing.live_version_of(article)
    r = client.get(f"/articles/{article.slug}")
    assert r.headers["ETag"].startswith(f'"{version.etag}-')  # the version's, with a hash of the page
    assert r.headers["Cache-Control"] == "public, max-age=1, must-revalidate"
    assert r.headers["Last-Modified"] == format_datetime(version.published_at.replace(microsecond=0), usegmt=True)
    assert "Set-Cookie" not in r.headers and 'name="csrf-token"' not in r.get_data(as_text=True)
    again = client.get(f"/articles/{article.slug}", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    since = client.get(f"/articles/{article.slug}", headers={"If-Modified-Since": r.headers["Last-Modified"]})
    assert since.status_code == 304
    assert client.get(f"/articles/{article.slug}", headers={"If-None-Match": '"other"'}).status_code == 200
    _update_to_v2(db, cast, article)
    fresh = client.get(f"/articles/{article.slug}", headers={"If-None-Match": r.headers["ETag"]})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != r.headers["ETag"]
    v1 = client.get(f"/articles/{article.slug}/v1")
    assert client.get(f"/articles/{article.slug}/v1", headers={"If-None-Match": v1.headers["ETag"]}).status_code == 304


def test_signed_in_staff_get_their_menu_and_a_private_response(client, login, cast, published):
    article, _ = published
    login(cast["editor"])
    r = client.get(f"/articles/{article.slug}")
    assert r.status_code == 200 and r.headers["Cache-Control"] == "private, no-cache"
    assert "Eddie Marsh" in text_of(r.get_data(as_text=True)) and "ETag" not in r.headers
    assert client.get("/articles").headers["Cache-Control"] == "private, no-cache"


def test_the_page_follows_a_publish_within_the_cache_bound(app, client, cast, db, published, public_clock):
    article, _ = published
    assert "Humidifiers" not in client.get(f"/articles/{article.slug}").get_data(as_text=True)  # now cached
    _update_to_v2(db, cast, article)
    published_at = public_clock.now
    while "Humidifiers" not in client.get(f"/articles/{article.slug}").get_data(as_text=True):
        assert public_clock.now - published_at < 1.5, "the public page lagged the publish by more than 1.5 s"
        public_clock.now += 0.05


def test_a_change_by_another_process_shows_once_the_cache_entry_expires(app, client, cast, db, published,
                                                                        public_clock):
    """Another worker's unpublish does not empty this process's cache; it bumps the public counter, which
    this process reads at most once per PUBLIC_CACHE_SECONDS: that bounds the lag."""
    article, _ = published
    assert client.get(f"/articles/{article.slug}").status_code == 200  # cached
    db.session.execute(update(Article).where(Article.id == article.id).values(live_version=None))
    db.session.execute(text("UPDATE public_state SET generation = generation + 1"))
    db.session.execute(text("UPDATE page_stamps SET generation = (SELECT generation FROM public_state) "
                            "WHERE scope = :id"), {"id": article.id})  # the article's stamp, as its commit writes
    db.session.info.pop("reviewflow.public_changed", None)
    db.session.commit()  # as another process would: no in-process invalidation
    started = public_clock.now
    while client.get(f"/articles/{article.slug}").status_code != 410:
        assert public_clock.now - started < app.config["PUBLIC_CACHE_SECONDS"] + 0.5
        public_clock.now += 0.05
    assert public_clock.now - started >= app.config["PUBLIC_CACHE_SECONDS"] - 0.05, "no cache kept the page at all"


def test_index_lists_live_articles_newest_first_by_topic(app, client, cast, db, published):
    article, other = published
    html = client.get("/articles").get_data(as_text=True)
    text = text_of(html)
    assert text.index(article.title) < text.index(other.title)
    assert "Medically reviewed by Dana Okafor, M.D., Ph.D." in text and "Cold air and low humidity" in text
    assert "Dermatology (1 article)" in text and "Pharmacology (1 article)" in text
    only = text_of(client.get("/articles?topic=Pharmacology").get_data(as_text=True))
    assert other.title in only and article.title not in only
    empty = client.get("/articles?topic=Cardiology")
    assert empty.status_code == 200 and "No published articles on Cardiology" in text_of(empty.get_data(as_text=True))
    assert client.get("/articles?before=garbage&after=%00").status_code == 200


def test_index_pages_with_keyset_cursors(app, client, cast, db):
    app.config["PER_PAGE"] = 2
    titles = [f"Topic note {i}" for i in range(5)]
    for t in titles:
        make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title=t)
    seen, url, pages = [], "/articles", 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += re.findall(r'<a href="/articles/[^"]+">(Topic note \d)</a>', html)
        nxt = re.search(r'href="([^"]+)" rel="next"', html)
        url = unescape(nxt[1]) if nxt else None
        pages += 1
    assert seen == list(reversed(titles)) and pages == 3
    second = client.get(re.search(r'href="([^"]+)" rel="next"', client.get("/articles").get_data(as_text=True))[1]
                        .replace("&amp;", "&")).get_data(as_text=True)
    prev = unescape(re.search(r'href="([^"]+)" rel="prev"', second)[1])
    assert re.findall(r'">(Topic note \d)</a>', client.get(prev).get_data(as_text=True)) == ["Topic note 4",
                                                                                           "Topic note 3"]


def test_index_makes_a_fixed_number_of_queries(app, client, cast, db):
    def count() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/articles").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        # the cache's own reads (the public counter at most once a second, the shared store) are not the page's
        statements = [s for s in statements if not any(t in s for t in ("public_state", "page_stamps",
                                                                         "finished_pages", "PRAGMA"))]
        return len(statements)

    make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title="One")
    few = count()
    for i in range(4):
        make_article(cast["writer2"], "published", reviewer=cast["rev2"], editor=cast["editor"], title=f"More {i}",
                     topic=f"Topic {i}")
    assert count() == few


def test_reviewer_and_writer_pages(client, cast, db, published):
    article, other = published
    r = client.get(f"/reviewers/{cast['rev'].id}")
    text = text_of(r.get_data(as_text=True))
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, max-age=1, must-revalidate"
    for needle in ("Dana Okafor, M.D., Ph.D.", "Dermatology", "Lakeside Skin Clinic", "Northwind Review Network",
                   "Dana treats skin conditions", article.title):
        assert needle in text, needle
    assert other.title not in text and "GA-77812" not in text  # no licence number on the public page
    w = text_of(client.get(f"/writers/{cast['writer'].id}").get_data(as_text=True))
    assert "Wren Alder" in w and article.title in w and other.title not in w and "A bio." in w
    assert "No published reviews yet" in text_of(client.get(f"/reviewers/{cast['expired'].id}").get_data(as_text=True))
    for url in (f"/reviewers/{cast['writer'].id}", f"/reviewers/{cast['editor'].id}", "/reviewers/99999",
                "/reviewers/99999999999999999999", "/reviewers/x", f"/writers/{cast['rev'].id}", "/writers/0"):
        assert client.get(url).status_code == 404, url


def test_feed_is_atom(client, cast, db, published):
    article, other = published
    r = client.get("/feed.atom")
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = ET.fromstring(r.data)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed" and root.find("a:id", ns).text
    entries = root.findall("a:entry", ns)
    assert [e.find("a:title", ns).text for e in entries] == [article.title, other.title]
    first = entries[0]
    assert first.find("a:link", ns).get("href") == f"http://localhost/articles/{article.slug}"
    assert first.find("a:id", ns).text == f"http://localhost/articles/{article.slug}"  # one entry per article
    assert first.find("a:author/a:name", ns).text == "Wren Alder"
    assert "Dana Okafor, M.D., Ph.D." in first.find("a:summary", ns).text
    datetime.fromisoformat(first.find("a:updated", ns).text.replace("Z", "+00:00"))
    assert client.get("/feed.atom", headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_sitemap_lists_every_live_article(client, cast, db, published):
    article, other = published
    publishing.unpublish_article(cast["editor"], other, "Outdated.")
    db.session.commit()
    r = client.get("/sitemap.xml")
    assert r.status_code == 200 and r.mimetype == "application/xml"
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    root = ET.fromstring(r.data)
    locs = {u.find("s:loc", ns).text: u.find("s:lastmod", ns) for u in root.findall("s:url", ns)}
    assert f"http://localhost/articles/{article.slug}" in locs and f"http://localhost/articles/{other.slug}" not in locs
    lastmod = locs[f"http://localhost/articles/{article.slug}"].text
    assert lastmod == iso(publishing.live_version_of(article).published_at)


def test_feed_and_sitemap_survive_odd_text(client, cast, db):
    # Control characters never enter one-line fields through the services now…
    with pytest.raises(InvalidInput):
        make_user("writer", name="Ann \x0b Lee")
    db.session.rollback()
    with pytest.raises(InvalidInput):
        articles.create_article(cast["writer"], "Fish & chips <3 \x01", BODY, "Nutrition")
    db.session.rollback()
    # …markup-like text is fine, and rows written before that rule (a restored backup) may still hold them.
    writer = make_user("writer", name="Ann <b>&amp;</b> Lee")
    article = make_article(writer, "published", reviewer=cast["rev"], editor=cast["editor"], title="Fish & chips <3")
    db.session.execute(update(PublishedVersion).where(PublishedVersion.article_id == article.id)
                       .values(title="Fish & chips <3 \x01", writer_name="Ann <b>&amp;</b> \x0b Lee"))
    pagecache.public_changed()
    db.session.commit()
    for url in ("/feed.atom", "/sitemap.xml"):
        r = client.get(url)
        assert r.status_code == 200
        ET.fromstring(r.data)
    feed = ET.fromstring(client.get("/feed.atom").data)
    atom = "{http://www.w3.org/2005/Atom}"
    entry = feed.find(f"{atom}entry")
    assert entry.find(f"{atom}title").text == "Fish & chips <3 "
    assert entry.find(f"{atom}author/{atom}name").text == "Ann <b>&amp;</b>  Lee"
