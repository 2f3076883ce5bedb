"""Finished public pages shared by every process (``public.pagecache``, ``public.fastpath``, ``public.aside``).

A second app on the same database stands for another process (another worker or server): its own
memory, the same shared store and stamps, its cache on a clock the test moves.
"""
from __future__ import annotations

import pytest
from flask import request_started
from sqlalchemy import event, text

import config
from reviewflow import create_app
from reviewflow.auth import services as accounts
from reviewflow.extensions import db as _db
from reviewflow.public import store
from reviewflow.public.pagecache import LISTS, public_cache
from reviewflow.publishing import services as publishing
from reviewflow.site import services as site
from tests.factories import Clock, make_article, verify
from tests.publishing.test_public import _update_to_v2

#: Each "other process" is a second app with an engine and connections of its own: it must see what the
#: test committed, as another worker or server does.
pytestmark = pytest.mark.real_commits


class Process:
    """Another process on the test's database: an app, its client, its cache's clock, and what it did."""

    def __init__(self, url: str, **settings) -> None:
        cfg = type("Cfg", (config.TestConfig,), {"SQLALCHEMY_DATABASE_URI": url, **settings})
        self.app = create_app(cfg)
        self.client = self.app.test_client()
        self.clock = Clock()
        public_cache(self.app).clock = self.clock
        self.requests, self.sql = 0, []
        request_started.connect(self._started, self.app)
        with self.app.app_context():
            self.engine = _db.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)

    def _started(self, sender, **extra) -> None:
        self.requests += 1

    def _statement(self, conn, cursor, statement, *args) -> None:
        self.sql.append(statement)

    def get(self, path: str, **kw):
        return self.client.get(path, **kw)

    def later(self) -> None:
        """Past this process's look at the counter (``PUBLIC_CACHE_SECONDS``)."""
        self.clock.now += self.app.config["PUBLIC_CACHE_SECONDS"] + 0.01

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        request_started.disconnect(self._started, self.app)
        self.engine.dispose()


@pytest.fixture
def other(app):
    process = Process(app.config["SQLALCHEMY_DATABASE_URI"])
    yield process
    process.close()


def _keys(app) -> set[str]:
    return {k for k in public_cache(app).data if isinstance(k, str)}


def _rows(db) -> dict[str, int]:
    return dict(db.session.execute(text("SELECT key, generation FROM finished_pages")).all())


@pytest.fixture
def three(db, cast):
    """Two live articles on dermatology by Dana Okafor, one on pharmacology by Ravi Senn."""
    accounts.save_profile(None, cast["rev"], {
        "credentials": "M.D., Ph.D.", "specialty": "Dermatology", "license_number": "GA-77812",
        "license_expires": "2099-03-31", "affiliation": "Lakeside Skin Clinic", "bio": "Dana treats skin."})
    db.session.commit()
    verify(cast["rev"])
    eczema = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    acne = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"],
                        title="Acne at any age")
    pills = make_article(cast["writer2"], "published", reviewer=cast["rev2"], editor=cast["editor"],
                         title="Taking ibuprofen safely", topic="Pharmacology")
    return eczema, acne, pills


# The shared store: the first read after a restart is not a render ----------------------------------------

def test_a_fresh_process_serves_what_another_finished_without_rendering(client, other, three):
    eczema, acne, pills = three
    first = {a.slug: client.get(f"/articles/{a.slug}") for a in three}
    assert all(r.status_code == 200 for r in first.values())
    answer = other.get(f"/articles/{eczema.slug}")
    assert other.requests == 0, "the fresh process rendered the page itself"
    assert answer.get_data() == first[eczema.slug].get_data()
    assert answer.headers["ETag"] == first[eczema.slug].headers["ETag"]
    assert answer.headers["Cache-Control"] == "public, max-age=1, must-revalidate"
    other.sql.clear()
    same_topic = other.get(f"/articles/{acne.slug}")
    assert same_topic.get_data() == first[acne.slug].get_data() and other.requests == 0
    assert len(other.sql) == 1 and "finished_pages" in other.sql[0]  # one indexed query: the row
    conditional = other.get(f"/articles/{pills.slug}", headers={"If-None-Match": first[pills.slug].headers["ETag"]})
    assert conditional.status_code == 304 and other.requests == 0
    head = other.client.head(f"/articles/{pills.slug}")
    assert head.status_code == 200 and head.get_data() == b""
    assert head.headers["Content-Length"] == str(len(first[pills.slug].get_data()))


def test_with_a_public_address_every_host_shares_one_finished_page(app, db, three):
    """In production (``PUBLIC_URL`` set) a page does not depend on the Host header: servers behind any
    name, or a restarted one on another port, share the rows, and no client makes rows by inventing Hosts."""
    one, two = (Process(app.config["SQLALCHEMY_DATABASE_URI"], PUBLIC_URL="https://health.example.org")
                for _ in range(2))
    try:
        slug = three[0].slug
        first = one.get(f"/articles/{slug}", headers={"Host": "web-1.internal:8001"})
        again = two.get(f"/articles/{slug}", headers={"Host": "anything.example"})
        assert first.status_code == again.status_code == 200 and two.requests == 0
        assert again.get_data() == first.get_data()
        assert [k for k in _rows(db) if slug in k] == [f"https://health.example.org/articles/{slug}"]
    finally:
        one.close()
        two.close()


def test_a_withdrawn_article_s_410_is_shared_too(client, db, cast, other, three):
    eczema = three[0]
    publishing.unpublish_article(cast["editor"], eczema, "Guidance withdrawn.")
    db.session.commit()
    assert client.get(f"/articles/{eczema.slug}").status_code == 410
    gone = other.get(f"/articles/{eczema.slug}")
    assert gone.status_code == 410 and other.requests == 0 and "Guidance withdrawn" in gone.get_data(as_text=True)


def test_a_row_built_from_data_older_than_a_change_is_never_served(app, client, db, cast, other, three):
    """The race: a builder read the article, the article changed and its commit deleted the rows, then the
    builder stored what it had rendered. The row carries the counter read before building, older than the
    article's stamp, so no process serves it."""
    eczema = three[0]
    key = f"http://localhost/articles/{eczema.slug}"
    client.get(f"/articles/{eczema.slug}")
    stale = db.session.execute(text("SELECT generation, status, meta, body, scope FROM finished_pages WHERE key = :k"),
                               {"k": key}).one()
    publishing.unpublish_article(cast["editor"], eczema, "Guidance withdrawn.")
    db.session.commit()
    assert key not in _rows(db)  # the change's own transaction deleted it
    import json
    shared = store.finished_store(app)
    assert shared.save(key, stale.scope, stale.generation, stale.status, json.loads(stale.meta), bytes(stale.body))
    assert other.get(f"/articles/{eczema.slug}").status_code == 410
    assert other.requests == 1  # rendered afresh: the stale row was refused


def test_rows_of_another_build_are_not_served(app, client, db, other, three):
    eczema = three[0]
    client.get(f"/articles/{eczema.slug}")
    db.session.execute(text("UPDATE finished_pages SET build = 'an older release'"))
    db.session.commit()
    assert other.get(f"/articles/{eczema.slug}").status_code == 200
    assert other.requests == 1
    assert db.session.execute(text("SELECT count(*) FROM finished_pages WHERE build = 'an older release'")).scalar() \
        == len(_rows(db)) - 1  # the render replaced its row


# Fine-grained invalidation ----------------------------------------------------------------------------------

def test_a_publish_evicts_its_article_not_the_others_yet_their_lists_follow(app, client, db, cast, other, three):
    eczema, acne, pills = three
    pages = {a.slug: client.get(f"/articles/{a.slug}") for a in three}
    for a in three:
        other.get(f"/articles/{a.slug}")
    rows = _rows(db)
    _update_to_v2(db, cast, eczema)
    kept = _keys(app)
    assert f"http://localhost/articles/{eczema.slug}" not in kept
    assert {f"http://localhost/articles/{a.slug}" for a in (acne, pills)} <= kept
    after = _rows(db)
    assert f"http://localhost/articles/{eczema.slug}" not in after
    for a in (acne, pills):  # the shared rows of the others stay as they were
        assert after[f"http://localhost/articles/{a.slug}"] == rows[f"http://localhost/articles/{a.slug}"]
    # The other process learns within a second, evicts the same, and serves the new version.
    other.later()
    before = other.requests
    assert "Humidifiers" in other.get(f"/articles/{eczema.slug}").get_data(as_text=True)
    # it read the stamps and evicted eczema only: the others are still in its memory, not refetched
    assert {f"http://localhost/articles/{a.slug}" for a in (acne, pills)} <= _keys(other.app)
    pills_now = other.get(f"/articles/{pills.slug}")
    assert other.requests == before + 1  # only the published article was rendered again
    assert pills_now.get_data() == client.get(f"/articles/{pills.slug}").get_data()
    # eczema's new version is the newest: it leads the others' "Recent articles", and their ETags moved
    assert pills_now.headers["ETag"] != pages[pills.slug].headers["ETag"]


def test_a_profile_change_evicts_only_the_reviewer_s_articles(app, client, db, cast, other, three):
    eczema, acne, pills = three
    for a in three:
        client.get(f"/articles/{a.slug}")
        other.get(f"/articles/{a.slug}")
    accounts.save_profile(None, cast["rev2"], {
        "credentials": "PharmD", "specialty": "Pharmacology", "license_number": "PH-1", "license_expires": "2099-01-01",
        "bio": "Ravi answers questions about medicines."})
    db.session.commit()
    kept = _keys(app)
    assert f"http://localhost/articles/{pills.slug}" not in kept
    assert {f"http://localhost/articles/{a.slug}" for a in (eczema, acne)} <= kept
    other.later()
    before = other.requests
    assert "Ravi answers questions about medicines." in other.get(f"/articles/{pills.slug}").get_data(as_text=True)
    other.get(f"/articles/{eczema.slug}")
    other.get(f"/articles/{acne.slug}")
    assert other.requests == before + 1


def test_the_site_s_settings_evict_everything(app, client, db, cast, other, three):
    for a in three:
        client.get(f"/articles/{a.slug}")
        other.get(f"/articles/{a.slug}")
    site.save_settings(cast["admin"], {site.DISCLAIMER: "Northwind Health: ask your doctor."})
    db.session.commit()
    assert not _keys(app) and not _rows(db)
    other.later()
    before = other.requests
    for a in three:
        assert "Northwind Health: ask your doctor." in other.get(f"/articles/{a.slug}").get_data(as_text=True)
    assert other.requests == before + 3


def test_the_index_is_finished_until_the_lists_change(app, client, db, cast, three):
    seen = []

    def started(sender, **kw):
        seen.append(1)

    request_started.connect(started, app)
    first = client.get("/articles")
    page = client.get("/articles?topic=Dermatology")
    assert first.status_code == page.status_code == 200 and len(seen) == 2
    assert client.get("/articles").get_data() == first.get_data()
    assert client.get("/articles?topic=Dermatology").get_data() == page.get_data()
    assert client.get("/feed.atom").status_code == 200 and client.get("/sitemap.xml").status_code == 200
    assert len(seen) == 4  # the feed and sitemap once each; the lists from memory
    assert client.get("/feed.atom").status_code == 200 and len(seen) == 4
    make_article(cast["writer2"], "published", reviewer=cast["rev2"], editor=cast["editor"], title="Sleep and pain",
                 topic="Pharmacology")
    assert "Sleep and pain" in client.get("/articles").get_data(as_text=True)
    assert "Sleep and pain" in client.get("/feed.atom").get_data(as_text=True)
    assert len(seen) == 6
    assert all(public_cache(app).data[k][1] == LISTS for k in _keys(app) if "/articles/" not in k)


def test_signed_in_staff_and_query_strings_on_articles_are_never_finished(client, db, login, cast, three):
    eczema = three[0]
    login(cast["editor"])
    client.get(f"/articles/{eczema.slug}")
    client.get(f"/articles/{eczema.slug}?utm_source=x")
    assert not _rows(db)


# The race, at random: what any reader gets is what a fresh render of the current data gives ---------------

def test_readers_get_a_fresh_render_of_the_current_data_whatever_the_changes(app, client, db, cast, other, three):
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

    from reviewflow.articles import services as articles
    from reviewflow.reviews import services as reviews
    from tests.factories import BODY, CHECKLIST, PASSWORD

    fresh = Process(app.config["SQLALCHEMY_DATABASE_URI"], PUBLIC_FINISHED_STORE=False)
    people = {three[0].id: ("writer", "rev"), three[1].id: ("writer", "rev"), three[2].id: ("writer2", "rev2")}
    slugs = [a.slug for a in three]
    counter = [0]

    def truth(path: str):
        public_cache(fresh.app).clear()
        return fresh.get(path)

    class Newsroom(RuleBasedStateMachine):
        """Publishes, unpublishes and profile edits in this process; reads here at once and in the other
        process once its look at the counter is due (the bound)."""

        def live(self) -> list:
            return [a for a in three if a.live_version is not None]

        @rule(n=st.sampled_from([0, 1, 2]))
        def update(self, n):
            article = three[n]
            if article not in self.live():
                return  # the database outlives each example: rules are drawn alike whatever its state
            writer, reviewer = (cast[p] for p in people[article.id])
            counter[0] += 1
            articles.save_revision(writer, article, article.revision.title, BODY + f"\nUpdate {counter[0]}.\n",
                                   article.current_revision, f"Update {counter[0]}")
            articles.submit_article(writer, article)
            reviews.sign_decision(reviewer, article, article.current_revision, "approve", PASSWORD,
                                  checklist=CHECKLIST)
            publishing.publish_revision(cast["editor"], article, article.current_revision, f"Update {counter[0]}.")
            db.session.commit()

        @rule(n=st.sampled_from([0, 1, 2]))
        def unpublish(self, n):
            article = three[n]
            if article not in self.live() or len(self.live()) < 2:
                return
            publishing.unpublish_article(cast["editor"], article, "Withdrawn for checking.")
            db.session.commit()

        @rule(who=st.sampled_from(["rev", "rev2"]), bio=st.sampled_from(["Short bio.", "A longer bio, revised."]))
        def profile(self, who, bio):
            person = cast[who]
            current = person.profile
            accounts.save_profile(None, person, {
                "credentials": current.credentials, "specialty": current.specialty,
                "license_number": current.license_number, "license_expires": current.license_expires.isoformat(),
                "affiliation": current.affiliation or "", "bio": bio})
            db.session.commit()
            if person.profile.verified_at is None:
                verify(person)  # so that they can sign the next update

        @rule(slug=st.sampled_from(slugs), version=st.sampled_from([None, 1]), here=st.booleans())
        def read(self, slug, version, here):
            path = f"/articles/{slug}" + (f"/v{version}" if version else "")
            if here:
                got = client.get(path)
            else:
                other.later()
                got = other.get(path)
            expected = truth(path)
            assert got.status_code == expected.status_code
            assert got.get_data() == expected.get_data()
            assert got.headers.get("ETag") == expected.headers.get("ETag")

    try:
        run_state_machine_as_test(Newsroom, settings=settings(
            max_examples=8, stateful_step_count=8, deadline=None, database=None,
            suppress_health_check=list(HealthCheck)))
    finally:
        fresh.close()


# Finishing ahead of readers (after a deploy) ------------------------------------------------------------

def test_finish_pages_leaves_no_live_page_for_a_reader_to_render(app, db, three):
    """``flask finish-pages`` asks for every live article and the lists on the public address: afterwards
    another process answers each of them from the shared store, rendering nothing."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    finisher = Process(url, PUBLIC_URL="https://health.example.org")
    reader = Process(url, PUBLIC_URL="https://health.example.org")
    try:
        with finisher.app.app_context():
            result = finisher.app.test_cli_runner().invoke(args=["finish-pages"])
        assert result.exit_code == 0, result.output
        assert "Finished 8 public pages." in result.output  # 3 articles, /articles, 2 feeds, sitemap, robots
        assert finisher.requests == 8
        for article in three:
            answer = reader.get(f"/articles/{article.slug}", headers={"Host": "web-2.internal"})
            assert answer.status_code == 200 and article.title in answer.get_data(as_text=True)
        assert reader.get("/articles").status_code == 200
        assert reader.requests == 0, "a reader's request rendered a page the command should have finished"
        assert {f"https://health.example.org/articles/{a.slug}" for a in three} <= set(_rows(db))
    finally:
        finisher.close()
        reader.close()
