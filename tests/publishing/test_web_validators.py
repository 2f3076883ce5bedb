"""The public site's documents checked by independent tools, as issue 14's "Done means" asks: prance
resolves and validates the OpenAPI document, extruct reads the article page's JSON-LD and Open Graph
tags, pyld expands the JSON-LD, and feedparser reads the Atom feed (the JSON Feed is checked here
against JSON Feed 1.1 with plain json).

The tools live in the tools venv, ``.venv-tools`` (``make tools``, pinned in requirements-tools.txt),
never in the app's; each runs in a subprocess with that venv's Python. Without the venv (or with one
built before these tools were added) the tools' tests skip, except in CI (``CI=true``), where they fail.

One world is built for the module through the real services: a cited article whose sources were
checked before its reviewer signed, an article updated to a second version, a withdrawn article
and a draft. Its documents are fetched once with Flask's test client (``PUBLIC_URL`` set, so every
address is the public site's) and written to files that the tools read.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reviewflow.articles import services as articles
from reviewflow.auth import services as accounts
from reviewflow.extensions import db as _db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from reviewflow.sources import status
from tests.factories import BODY, CHECKLIST, PASSWORD, empty_schema, make_app, make_article, make_user, verify

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("REVIEWFLOW_TOOLS_VENV", ROOT / ".venv-tools"))
PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")
PUBLIC = "https://health.example.org"
SITE = "Lakeside Health Library"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CITED = """# Winter eczema

Moisturize within three minutes of bathing.[^nhs] Lukewarm showers are gentler than hot baths.[^aad]

[^nhs]: NHS, "Atopic eczema: treatment". https://www.nhs.uk/conditions/atopic-eczema/treatment/
[^aad]: American Academy of Dermatology, "Eczema types: atopic dermatitis self-care". https://www.aad.org/
"""


def _python() -> Path:
    path = TOOLS / "bin" / "python"
    if not path.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{path} is missing: CI must run `make tools` first (requirements-tools.txt)")
        pytest.skip(f"{path} is missing: `make tools` installs the web validators")
    return path


def _run(script: str, *args, timeout: int = 120) -> dict:
    """Run ``script`` with the tools venv's Python; it prints one JSON object as its last line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    ran = subprocess.run([str(_python()), "-c", textwrap.dedent(script), *map(str, args)], capture_output=True,
                         text=True, timeout=timeout, env=env)
    if "ModuleNotFoundError" in ran.stderr and os.environ.get("CI", "").lower() != "true":
        pytest.skip(f"{TOOLS} lacks a validator ({ran.stderr.strip().splitlines()[-1]}): run `make tools`")
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    return json.loads(ran.stdout.strip().splitlines()[-1])


def _approve(reviewer, article) -> None:
    reviews.sign_decision(reviewer, article, article.current_revision, "approve", PASSWORD, checklist=CHECKLIST)
    _db.session.commit()


def _day(moment: datetime) -> str:
    """The UTC date of ``moment`` (naive values are UTC, as SQLite gives them back)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date().isoformat()


def _world() -> dict:
    """Two live articles (one cited, one at its second version), a withdrawn one and a draft."""
    writer, editor = make_user("writer", name="Wren Alder"), make_user("editor", name="Eddie Marsh")
    rev = make_user("reviewer", name="Dana Okafor", credentials="M.D., Ph.D.", specialty="Dermatology")
    rev2 = make_user("reviewer", name="Ravi Senn", credentials="PharmD", specialty="Pharmacology")
    accounts.save_profile(None, rev, {
        "credentials": "M.D., Ph.D.", "specialty": "Dermatology", "license_number": "GA-77812",
        "license_expires": "2099-03-31", "affiliation": "Lakeside Skin Clinic",
        "organization": "Northwind Review Network", "bio": "Dana treats skin conditions in adults and children."})
    _db.session.commit()
    verify(rev)
    # Cited: every source checked as supporting the claim before the reviewer signs.
    cited = make_article(writer, "in_review", reviewer=rev, editor=editor, title="Eczema in winter", body=CITED)
    for state in status.unsupported(cited):
        sources.check_source(rev, cited, cited.current_revision, state.key, "supports")
    _db.session.commit()
    _approve(rev, cited)
    publishing.publish_revision(editor, cited, cited.current_revision, "First published.")
    _db.session.commit()
    # Updated: a second version of the same article is still one feed entry.
    updated = make_article(writer, "published", reviewer=rev2, editor=editor, title="Taking ibuprofen safely",
                           body=BODY.replace("eczema", "ibuprofen"), topic="Pharmacology")
    articles.save_revision(writer, updated, "Taking ibuprofen safely", BODY + "\nTake it with food.\n",
                           updated.current_revision, "Add food")
    articles.submit_article(writer, updated)
    _db.session.commit()
    _approve(rev2, updated)
    publishing.publish_revision(editor, updated, updated.current_revision, "Updated: take it with food.")
    _db.session.commit()
    gone = make_article(writer, "published", reviewer=rev, editor=editor, title="Withdrawn advice")
    publishing.unpublish_article(editor, gone, "Superseded by new guidance.")
    _db.session.commit()
    draft = make_article(writer, "draft", title="Unfinished draft")
    return {"cited": cited.slug, "updated": updated.slug, "gone": gone.slug, "draft": draft.slug,
            "cited_reviewed": _day(publishing.live_version_of(cited).last_reviewed_at),
            "updated_versions": len(publishing.versions_of(updated.id))}


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """The world's documents as files: openapi.json, article.html, feed.atom (with its headers), feed.json."""
    folder = tmp_path_factory.mktemp("web")
    url = PG_URL or f"sqlite:///{folder / 'web.db'}"

    app = make_app(url, PUBLIC_URL=PUBLIC, SITE_NAME=SITE)
    with app.app_context():
        empty_schema()
        world = _world()
        _db.session.remove()
    client = app.test_client()
    fetched = {}
    for name, path in {"openapi.json": "/api/v1/openapi.json", "article.html": f"/articles/{world['cited']}",
                       "feed.atom": "/feed.atom", "feed.json": "/feed.json"}.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:500])
        (folder / name).write_bytes(response.get_data())
        fetched[name] = {"path": path, "content_type": response.headers["Content-Type"]}
    with app.app_context():
        _db.session.remove()
        _db.engine.dispose()
    return {"dir": folder, "world": world, "fetched": fetched}


# prance ------------------------------------------------------------------------------------------

PRANCE = '''
    import json, sys
    from prance import ResolvingParser
    parser = ResolvingParser(sys.argv[1], backend="openapi-spec-validator", strict=True)
    spec = parser.specification
    refs = json.dumps(spec).count('"$ref"')
    print(json.dumps({"version": parser.version, "openapi": spec["openapi"], "paths": len(spec["paths"]),
                      "refs_left": refs}))
'''


def test_prance_resolves_and_validates_the_openapi_document(docs):
    """prance's ResolvingParser, with the openapi-spec-validator backend, validates the document and
    resolves every ``$ref`` (a dangling or circular one raises)."""
    seen = _run(PRANCE, docs["dir"] / "openapi.json")
    assert seen["openapi"].startswith("3.1") and seen["paths"] > 10, seen
    assert seen["refs_left"] == 0, seen


# extruct and pyld --------------------------------------------------------------------------------

EXTRUCT = '''
    import json, sys
    import extruct
    html = open(sys.argv[1], "rb").read()
    data = extruct.extract(html, base_url=sys.argv[2], syntaxes=["json-ld", "opengraph"], errors="strict")
    print(json.dumps(data))
'''


@pytest.fixture(scope="module")
def extracted(docs):
    return _run(EXTRUCT, docs["dir"] / "article.html", PUBLIC + docs["fetched"]["article.html"]["path"])


def _page(extracted) -> dict:
    pages = [d for d in extracted["json-ld"] if d.get("@type") == "MedicalWebPage"]
    assert len(pages) == 1, extracted["json-ld"]
    return pages[0]


def test_extruct_finds_the_medical_web_page(docs, extracted):
    """The MedicalWebPage as schema.org wants it: reviewers as Persons with credentials and a job title,
    ``lastReviewed`` a Date, the site as publisher, the cited sources as CreativeWorks, a BreadcrumbList."""
    page, world = _page(extracted), docs["world"]
    url = f"{PUBLIC}/articles/{world['cited']}"
    assert page["@context"] in ("https://schema.org", "https://schema.org/"), page["@context"]
    assert page["url"] == url and page["name"] == "Eczema in winter"
    people = page["reviewedBy"] if isinstance(page["reviewedBy"], list) else [page["reviewedBy"]]
    assert [p["name"] for p in people] == ["Dana Okafor"], people
    for person in people:
        assert person["@type"] == "Person", person
        credentials = person["hasCredential"]
        assert [c["name"] for c in credentials] == ["M.D.", "Ph.D."], credentials
        assert all(c["@type"] == "EducationalOccupationalCredential" for c in credentials), credentials
        assert "Dermatology" in person["jobTitle"], person
        assert "medicalSpecialty" not in person, person  # a Physician's property, not a Person's
    assert DATE.match(page["lastReviewed"]), page["lastReviewed"]
    assert page["lastReviewed"] == world["cited_reviewed"]
    assert page["publisher"]["@type"] == "Organization" and page["publisher"]["name"] == SITE, page["publisher"]
    assert page["publisher"]["url"].startswith(PUBLIC), page["publisher"]
    citations = page["citation"]
    assert [c["@type"] for c in citations] == ["CreativeWork", "CreativeWork"], citations
    assert [c.get("url") for c in citations] == ["https://www.nhs.uk/conditions/atopic-eczema/treatment/",
                                                 "https://www.aad.org/"], citations
    assert citations[0]["name"].startswith("NHS"), citations
    crumbs = [page["breadcrumb"]] + [d for d in extracted["json-ld"] if d.get("@type") == "BreadcrumbList"]
    trail = crumbs[0]
    assert trail["@type"] == "BreadcrumbList", trail
    items = trail["itemListElement"]
    assert [i["position"] for i in items] == list(range(1, len(items) + 1)) and len(items) >= 2, items
    assert all(i["@type"] == "ListItem" and i["item"].startswith(PUBLIC) for i in items), items
    assert items[-1]["item"] == url and items[-1]["name"] == "Eczema in winter", items
    assert page["mainEntity"]["@type"] == "Article", page["mainEntity"]
    # Every address in the structured data is on the public site or is a cited source's.
    addresses = re.findall(r'"(https?://[^"]+)"', json.dumps(page))
    allowed = (PUBLIC, "https://schema.org", "https://www.nhs.uk/", "https://www.aad.org/")
    assert all(a.startswith(allowed) for a in addresses), addresses


def test_extruct_finds_the_open_graph_tags(docs, extracted):
    graphs = extracted["opengraph"]
    assert graphs, extracted
    props = dict(p for g in graphs for p in g["properties"])
    assert props["og:title"] == "Eczema in winter", props
    assert props["og:type"] == "article", props
    assert props["og:url"] == f"{PUBLIC}/articles/{docs['world']['cited']}", props


PYLD = '''
    import json, sys
    from pyld import jsonld

    CONTEXTS = {"https://schema.org", "https://schema.org/", "http://schema.org", "http://schema.org/"}
    asked = []

    def loader(url, options=None):
        """schema.org's context from a local stub (no network here): its @vocab only."""
        asked.append(url)
        if url not in CONTEXTS:
            raise jsonld.JsonLdError("offline: " + url, "jsonld.LoadDocumentError", code="loading document failed")
        return {"contextUrl": None, "documentUrl": url, "document": {"@context": {"@vocab": "https://schema.org/"}}}

    doc = json.load(open(sys.argv[1]))
    expanded = jsonld.expand(doc, {"documentLoader": loader})
    print(json.dumps({"expanded": expanded, "asked": asked}))
'''


def test_pyld_expands_the_json_ld(docs, extracted, tmp_path):
    """Expanded with schema.org's vocabulary, the page keeps its reviewers and its review date."""
    (tmp_path / "page.jsonld").write_text(json.dumps(_page(extracted)))
    seen = _run(PYLD, tmp_path / "page.jsonld")
    assert seen["asked"] and set(seen["asked"]) <= {"https://schema.org", "https://schema.org/"}, seen["asked"]
    expanded = seen["expanded"]
    assert len(expanded) == 1, expanded
    node = expanded[0]
    assert node["@type"] == ["https://schema.org/MedicalWebPage"], node["@type"]
    reviewers = node["https://schema.org/reviewedBy"]
    assert [r["@type"] for r in reviewers] == [["https://schema.org/Person"]], reviewers
    assert reviewers[0]["https://schema.org/hasCredential"], reviewers
    assert reviewers[0]["https://schema.org/name"] == [{"@value": "Dana Okafor"}], reviewers
    assert node["https://schema.org/lastReviewed"] == [{"@value": docs["world"]["cited_reviewed"]}]
    assert "https://schema.org/publisher" in node and "https://schema.org/citation" in node, sorted(node)


# feedparser and JSON Feed ------------------------------------------------------------------------

FEEDPARSER = '''
    import json, sys
    import feedparser
    d = feedparser.parse(open(sys.argv[1], "rb").read(), response_headers={"content-type": sys.argv[2]})
    print(json.dumps({"bozo": d.bozo, "exception": repr(d.get("bozo_exception")), "version": d.version,
                      "title": d.feed.get("title"), "feed_id": d.feed.get("id"),
                      "entries": [{k: e.get(k) for k in ("id", "title", "link", "published", "updated", "summary")}
                                  for e in d.entries]}))
'''


def test_feedparser_reads_the_atom_feed(docs):
    """Well-formed Atom (bozo 0), one entry per live article, each with id, published, updated and link."""
    world = docs["world"]
    seen = _run(FEEDPARSER, docs["dir"] / "feed.atom", docs["fetched"]["feed.atom"]["content_type"])
    assert seen["bozo"] == 0, seen["exception"]
    assert seen["version"] == "atom10", seen["version"]
    entries = seen["entries"]
    links = sorted(e["link"] for e in entries)
    assert links == sorted(f"{PUBLIC}/articles/{world[k]}" for k in ("cited", "updated")), entries
    assert world["updated_versions"] == 2  # two versions of one article, still one entry
    assert len({e["id"] for e in entries}) == len(entries) == 2, entries
    for entry in entries:
        assert entry["id"] and entry["published"] and entry["updated"], entry
        assert entry["updated"] >= entry["published"], entry
        assert ".." not in (entry["summary"] or ""), entry
    assert all(world[k] not in json.dumps(entries) for k in ("gone", "draft")), entries


def test_json_feed_is_json_feed_1_1(docs):
    """JSON Feed 1.1: the version URL, a title, and items with a unique id, an absolute url and a title."""
    world = docs["world"]
    assert docs["fetched"]["feed.json"]["content_type"].startswith("application/feed+json")
    feed = json.loads((docs["dir"] / "feed.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1", feed.get("version")
    assert isinstance(feed["title"], str) and feed["title"], feed
    for key in ("home_page_url", "feed_url"):
        if key in feed:
            assert feed[key].startswith(PUBLIC), feed[key]
    items = feed["items"]
    assert isinstance(items, list) and len(items) == 2, items
    assert len({item["id"] for item in items}) == 2, items
    for item in items:
        assert isinstance(item["id"], str) and item["id"], item
        assert item["url"].startswith(PUBLIC + "/articles/") and item["title"], item
        assert item.get("content_html") or item.get("content_text"), item  # one is required
        for key in ("date_published", "date_modified"):
            if key in item:
                assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", item[key]), item
    assert sorted(item["url"] for item in items) == sorted(f"{PUBLIC}/articles/{world[k]}"
                                                           for k in ("cited", "updated"))
