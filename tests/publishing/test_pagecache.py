"""The public page cache (``public.pagecache``): entries are kept until a change of their scope; every
change bumps the counter and stamps its scopes in its own transaction; a process reads the counter at
most once per ttl, and the stamps only when it moved, which bounds how long another process's change
takes to show.
"""
from __future__ import annotations

from sqlalchemy import event, text

from reviewflow.extensions import db
from reviewflow.public.fastpath import Entry
from reviewflow.public.pagecache import LISTS, SITE, TTLCache
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.factories import make_article, make_user, verify


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _cache(counter: list[int], clock: Clock, stamps: dict | None = None, **kw) -> TTLCache:
    """A cache on a counter and stamps (scope -> generation) the test moves."""
    reads = []
    stamps = {} if stamps is None else stamps

    def generation():
        reads.append(clock.now)
        return counter[0]

    cache = TTLCache(1.0, clock=clock, generation=generation,
                     changes=lambda since: [s for s, g in stamps.items() if g > since], **kw)
    cache.reads = reads
    return cache


def test_an_entry_is_kept_while_the_counter_holds_and_read_once_per_ttl():
    clock, counter = Clock(), [5]
    cache = _cache(counter, clock)
    assert cache.get("a") is None
    assert cache.put("a", "page", scope=7)
    clock.now += 10  # long past the ttl: the counter is read again, nothing is rebuilt
    assert cache.get("a") == "page"
    assert cache.get("a") == "page"
    assert len(cache.reads) == 2  # once for the miss, once after the ttl: not per request


def test_a_move_evicts_only_the_scopes_it_stamped():
    clock, counter, stamps = Clock(), [5], {}
    cache = _cache(counter, clock, stamps)
    for key, scope in (("a", 7), ("b", 8), ("lists", LISTS), ("any", None)):
        cache.get(key)
        cache.put(key, key, scope=scope)
    counter[0], stamps[7] = 6, 6  # article 7 changed elsewhere
    clock.now += 1.0
    assert cache.get("a") is None
    assert cache.get("b") == "b" and cache.get("lists") == "lists"
    assert cache.get("any") is None  # an entry under no scope goes with any change
    counter[0], stamps[SITE] = 7, 7  # the site's settings: everything
    clock.now += 1.0
    assert cache.get("b") is None and cache.get("lists") is None


def test_a_page_built_across_a_move_is_not_kept():
    clock, counter, stamps = Clock(), [5], {}
    cache = _cache(counter, clock, stamps)
    assert cache.get("a") is None  # notes 5
    counter[0], stamps[7] = 6, 6  # a change lands while the page is built from the older data
    clock.now += 1.0
    assert cache.get("other") is None  # this process reads the counter meanwhile (evicting nothing of "a")
    assert not cache.put("a", "old page", scope=7)
    assert cache.get("a") is None


def test_each_miss_keeps_its_own_counter_while_others_are_put():
    """Two readers miss two pages at once; one page is put, then a change lands: the other page, built from
    data older than the change, is still refused (its miss noted the counter, whatever was put since)."""
    clock, counter, stamps = Clock(), [5], {}
    cache = _cache(counter, clock, stamps, size=100)
    assert cache.get("a") is None and cache.get("b") is None  # both note 5
    assert cache.put("a", "page a", scope=7)
    counter[0], stamps[8] = 6, 6
    clock.now += 1.0
    assert not cache.put("b", "old page b", scope=8)
    assert cache.get("a") == "page a"


def test_the_notes_of_misses_never_put_are_bounded():
    clock, counter = Clock(), [5]
    cache = _cache(counter, clock, size=2)
    for n in range(50):  # readers whose pages were never kept (errors, signed-in answers)
        cache.get(f"miss {n}")
    cache.put("miss 0", "page", scope=1)
    assert len(cache.pending) <= 4 * cache.size


def test_a_change_shows_within_one_ttl_of_its_commit():
    clock, counter, stamps = Clock(), [1], {}
    cache = _cache(counter, clock, stamps)
    cache.get("a")
    cache.put("a", "page", scope=3)
    clock.now += 0.9
    assert cache.get("a") == "page"
    counter[0], stamps[3] = 2, 2  # another process commits a change of article 3 now
    clock.now += 0.2  # past the first ttl: the counter is read again, and has moved
    assert cache.get("a") is None


def test_without_the_counter_nothing_is_kept_or_served():
    clock, counter = Clock(), [1]
    broken = [False]

    def generation():
        if broken[0]:
            raise OSError("database away")
        return counter[0]

    cache = TTLCache(1.0, clock=clock, generation=generation, changes=lambda since: [])
    cache.get("a")
    assert cache.put("a", "page", scope=1)
    broken[0] = True
    clock.now += 1.0
    assert cache.get("a") is None  # nothing trusted once the counter cannot be read
    assert not cache.put("a", "page", scope=1)
    broken[0] = False
    clock.now += 1.0
    cache.get("a")
    assert cache.put("a", "page", scope=1) and cache.get("a") == "page"


def test_bounded_by_bytes_least_recently_used_first_out():
    clock, counter = Clock(), [1]
    body = b"x" * 10_000
    cache = _cache(counter, clock, max_bytes=3 * 10_600)
    for key in "abc":
        cache.get(key)
        cache.put(key, Entry("200 OK", (), (body,), None, None), scope=1)
    assert cache.get("a") is not None  # a is now the most recently used
    cache.get("d")
    cache.put("d", Entry("200 OK", (), (body,), None, None), scope=1)
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("d") is not None
    assert cache.bytes <= 3 * 10_600
    for n in range(20):  # many pages through a small cache: its index of scopes forgets what left
        cache.get(f"page {n}")
        cache.put(f"page {n}", Entry("200 OK", (), (body,), None, None), scope=100 + n)
    indexed = set().union(*cache.scopes.values())
    assert indexed == set(cache.data) and len(cache.scopes) <= 3


def _generation() -> int:
    return db.session.execute(text("SELECT generation FROM public_state WHERE id = 1")).scalar()


def test_what_readers_see_bumps_the_counter_once_per_transaction_and_staff_work_does_not(app, db, cast):
    article = make_article(cast["writer"], "approved", reviewer=cast["rev"], editor=cast["editor"])
    before = _generation()
    reviews.assign_reviewer(cast["editor"], article, cast["rev2"].id)  # staff work: not public
    db.session.commit()
    assert _generation() == before
    make_article(cast["writer"], "draft", title="A new draft")  # a new article is not public yet
    make_user("writer")  # nor is a new person
    assert _generation() == before
    other = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"], title="Other")
    assert _generation() > before  # a publish
    before = _generation()
    publishing.unpublish_article(cast["editor"], other, "Outdated.")
    db.session.commit()
    assert _generation() == before + 1
    before = _generation()
    verify(make_user("reviewer", verified=False))  # a reviewer's public profile
    assert _generation() > before


def test_a_warm_page_is_renewed_with_one_small_query_not_rebuilt(app, client, db, cast, public_clock):
    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    assert client.get(f"/articles/{article.slug}").status_code == 200
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        public_clock.now += app.config["PUBLIC_CACHE_SECONDS"] + 0.1
        for _ in range(5):
            assert client.get(f"/articles/{article.slug}").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements and all("public_state" in s for s in statements), statements


def test_a_published_review_s_change_reaches_its_article_through_its_version(app, db, cast):
    """Published reviews are written with their version today; a review row changed on its own (a data repair,
    a later feature) must still reach the article's pages: its token names the version, which names the article
    (and a reviewer's token names every article they wrote or reviewed, and the lists)."""
    from reviewflow.public.pagecache import _expand
    from reviewflow.publishing.models import PublishedVersion

    article = make_article(cast["writer"], "published", reviewer=cast["rev"], editor=cast["editor"])
    version = db.session.query(PublishedVersion).filter_by(article_id=article.id).one()
    assert _expand(db.session, {("version", version.id)}) == {article.id}
    assert _expand(db.session, {("version", None)}) == set()
    assert _expand(db.session, {article.id, ("person", cast["rev"].id)}) == {article.id, LISTS}


def test_only_what_public_pages_show_of_a_person_or_an_article_is_a_public_change(app, db, cast):
    from reviewflow.public.pagecache import _scopes_of

    writer = cast["writer"]
    article = make_article(writer, "published", reviewer=cast["rev"], editor=cast["editor"])
    writer.email = "wren.new@example.org"  # not shown on any public page
    assert _scopes_of(writer) == set()
    writer.name = "Wren Alder-Moss"  # the writer's public page and bylines
    assert _scopes_of(writer) == {("person", writer.id)}
    db.session.rollback()
    article.rereview_months = 6  # staff bookkeeping
    assert _scopes_of(article) == set()
    article.slug = "a-new-address"
    assert _scopes_of(article) == {article.id, LISTS}
    db.session.rollback()


def test_bounded_by_entries_least_recently_used_first_out():
    clock, counter = Clock(), [1]
    cache = _cache(counter, clock, size=2)
    for key in "abc":
        cache.get(key)
        cache.put(key, key, scope=1)
    assert len(cache.data) == 2 and cache.get("a") is None and cache.get("c") == "c"
