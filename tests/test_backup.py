"""`backup` and `restore`: round trips between SQLite and PostgreSQL that keep the audit chain, the published
pages and the signatures identical, and the refusals that protect a restore.

Each database here is new: a SQLite file, or a PostgreSQL database created for the test on the server of
``REVIEWFLOW_TEST_DATABASE_URL`` and dropped at its end (the round trips that need PostgreSQL are skipped
without it). Schemas are made by the migrations, as in production, and the data by the app's services and
its API.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import uuid
import zipfile
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from reviewflow import backup
from reviewflow.articles import services as articles
from reviewflow.audit import services as audit
from reviewflow.extensions import db
from reviewflow.publishing import services as publishing
from reviewflow.reviews import services as reviews
from tests.factories import CHECKLIST, PASSWORD, make_app, make_article, make_user, token_for

PG_URL = os.environ.get("REVIEWFLOW_TEST_DATABASE_URL", "")
HAVE_PG = PG_URL.startswith("postgresql")
needs_pg = pytest.mark.skipif(not HAVE_PG, reason="needs REVIEWFLOW_TEST_DATABASE_URL to be a PostgreSQL URL")
#: The engine of the suite's run: the tests that are not round trips run on it.
SUITE_ENGINE = "postgresql" if HAVE_PG else "sqlite"

#: A POST sent with an Idempotency-Key before the backup, and retried after the restore.
FIRST_TRY = {"title": "Hydration in heat waves", "body": "Drink."}
SLEEP_BODY = """# Sleep on night shifts

Keep the bedroom dark and cool after a night shift. Blackout curtains help most people.

A short nap before the shift can improve alertness.
"""


@pytest.fixture
def new_database(tmp_path):
    """``new_database("sqlite" | "postgresql")`` -> the URL of a new, empty database, dropped afterwards."""
    created: list[str] = []
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT") if HAVE_PG else None

    def make(engine: str) -> str:
        name = f"rf_backup_{uuid.uuid4().hex[:12]}"
        if engine == "sqlite":
            return f"sqlite:///{tmp_path / name}.db"
        assert admin is not None, "PostgreSQL asked for without REVIEWFLOW_TEST_DATABASE_URL"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def context(app):
    with app.app_context():
        try:
            yield
        finally:
            db.session.remove()


def dispose(*apps) -> None:
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def run(app, *args: str):
    """Run a ``flask`` command of ``app``, as the ``flask`` executable does: inside an app context of its own."""
    with context(app):
        return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)


def build_source(url: str) -> dict:
    """A migrated database holding what a publisher's does: people (a verified reviewer among them), a
    published article, a second one reviewed with a blocking annotation, a reply and a new revision, then
    signed and published; notifications; an article made through the API with an Idempotency-Key.
    Returns the app and what the tests need to know."""
    app = make_app(url)
    with context(app):
        upgrade()
        writer = make_user("writer", name="Wren Alder")
        editor = make_user("editor", name="Eddie Marsh")
        rev = make_user("reviewer", name="Dana Okafor", credentials="M.D., Ph.D.", specialty="Dermatology")
        first = make_article(writer, "published", reviewer=rev, editor=editor)
        second = articles.create_article(writer, "Sleep on night shifts", SLEEP_BODY, "Sleep")
        db.session.commit()
        articles.submit_article(writer, second)
        reviews.assign_reviewer(editor, second, rev.id)
        db.session.commit()
        note = reviews.add_annotation(rev, second, 1, "Blackout curtains help most people.",
                                      "Cite the source for this.", blocking=True)
        db.session.commit()
        reviews.reply_to_annotation(writer, note, "Reworded and sourced in revision 2.")
        articles.save_revision(writer, second, "Sleep on night shifts", SLEEP_BODY.replace(
            "Blackout curtains help most people.", "Blackout curtains help many people sleep longer."), 1,
            note="Reworded the curtains claim.")
        db.session.commit()
        reviews.set_annotation_status(rev, note, "resolved")
        reviews.sign_decision(rev, second, 2, "approve", PASSWORD, checklist=CHECKLIST)
        db.session.commit()
        publishing.publish_revision(editor, second, 2, "First published.")
        db.session.commit()
        info = {"app": app, "slugs": [first.slug, second.slug], "writer_id": writer.id,
                "writer_token": token_for(writer)}
    response = app.test_client().post("/api/v1/articles", json=FIRST_TRY, headers={
        "Authorization": f"Bearer {info['writer_token']}", "Idempotency-Key": "first-try"})
    assert response.status_code == 201, response.get_data(as_text=True)
    info["first_try"] = response.get_data()
    return info


def snapshot_of(app, slugs: list[str]) -> dict:
    """What must survive a move: public pages and API records, signatures, row counts, the chain."""
    client = app.test_client()
    seen = {"pages": {}, "published": {}}
    for slug in slugs:
        page = client.get(f"/articles/{slug}")
        assert page.status_code == 200
        seen["pages"][slug] = page.get_data(as_text=True)
        seen["published"][slug] = client.get(f"/api/v1/published/{slug}").get_json()
    with context(app):
        seen["decisions"] = [tuple(row) for row in db.session.execute(
            select(db.metadata.tables["decisions"]).order_by(text("id")))]
        seen["events"] = [tuple(row) for row in db.session.execute(
            select(db.metadata.tables["audit_events"]).order_by(text("seq")))]
        seen["counts"] = {t.name: db.session.scalar(select(func.count()).select_from(t))
                          for t in db.metadata.sorted_tables if t.name not in backup.DERIVED}
        result = audit.verify(record_result=False)
        assert result.ok, result.reason
    return seen


ROUND_TRIPS = [
    pytest.param("sqlite", "sqlite", id="sqlite-to-sqlite"),
    pytest.param("postgresql", "postgresql", id="postgresql-to-postgresql", marks=needs_pg),
    pytest.param("sqlite", "postgresql", id="sqlite-to-postgresql", marks=needs_pg),
    pytest.param("postgresql", "sqlite", id="postgresql-to-sqlite", marks=needs_pg),
]


@pytest.mark.parametrize(("source_engine", "target_engine"), ROUND_TRIPS)
def test_round_trip_keeps_chain_pages_and_signatures(new_database, tmp_path, source_engine, target_engine):
    source = build_source(new_database(source_engine))
    before = snapshot_of(source["app"], source["slugs"])
    assert before["counts"]["notifications"] and before["counts"]["annotation_replies"]
    assert len(before["decisions"]) == 2

    path = tmp_path / "reviewflow.zip"
    made = run(source["app"], "backup", "--output", str(path))
    assert made.exit_code == 0, made.output
    assert f"from {source_engine}" in made.output
    target = make_app(new_database(target_engine))
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 0, restored.output
    assert "every table's row count and SHA-256 match the manifest" in restored.output
    assert f"Audit chain verified on the copy: {len(before['events'])} events." in restored.output

    after = snapshot_of(target, source["slugs"])
    assert after["pages"] == before["pages"]
    assert after["published"] == before["published"]
    assert after["decisions"] == before["decisions"]
    assert after["events"] == before["events"]
    assert after["counts"] == before["counts"]
    verified = run(target, "audit", "verify")
    assert verified.exit_code == 0, verified.output

    # The idempotency keys came along: the client that retries its POST across the move gets the first answer.
    retried = target.test_client().post("/api/v1/articles", json=FIRST_TRY, headers={
        "Authorization": f"Bearer {source['writer_token']}", "Idempotency-Key": "first-try"})
    assert retried.status_code == 201 and retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.get_data() == source["first_try"]

    # New writes get fresh ids (PostgreSQL's sequences were reset) and extend the chain, which still verifies;
    # the writer's API token came along.
    response = target.test_client().post("/api/v1/articles", json={"title": "Sunscreen after swimming",
                                                                    "body": "Reapply."},
                                         headers={"Authorization": f"Bearer {source['writer_token']}"})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["id"] == before["counts"]["articles"] + 1
    with context(target):
        assert audit.verify(record_result=False).ok
    dispose(source["app"], target)


@pytest.fixture
def backed_up(new_database, tmp_path):
    """A source database on the suite's engine with its backup file."""
    source = build_source(new_database(SUITE_ENGINE))
    path = tmp_path / "reviewflow.zip"
    made = run(source["app"], "backup", "--output", str(path))
    assert made.exit_code == 0, made.output
    yield source, path
    dispose(source["app"])


def test_backup_holds_every_table_of_the_models_with_a_manifest(backed_up):
    source, path = backed_up
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = zf.namelist()
    with context(source["app"]):
        tables = [t for t in db.metadata.sorted_tables if t.name not in backup.DERIVED]  # derived: never copied
        assert [t["name"] for t in manifest["tables"]] == [t.name for t in tables]
        assert manifest["schema_revision"] == db.session.scalar(text("SELECT version_num FROM alembic_version"))
        counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in tables}
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == counts
    assert all(f"tables/{t['name']}.jsonl" in names for t in manifest["tables"])
    assert {"revision_sources", "source_checks", "idempotency_keys"} <= {t["name"] for t in manifest["tables"]}
    assert len(manifest["sha256"]) == 64 and all(len(t["sha256"]) == 64 for t in manifest["tables"])
    assert path.stat().st_mode & 0o077 == 0, "a backup holds password hashes: its owner alone reads it"


def test_restore_refuses_a_database_that_holds_data(backed_up, new_database):
    _source, path = backed_up
    target = make_app(new_database(SUITE_ENGINE))
    assert run(target, "restore", str(path)).exit_code == 0
    with context(target):
        events = db.session.scalar(text("SELECT count(*) FROM audit_events"))
    again = run(target, "restore", str(path))
    assert again.exit_code == 1
    assert "already holds data" in again.output and "nothing was changed" in again.output
    with context(target):
        assert db.session.scalar(text("SELECT count(*) FROM audit_events")) == events
    dispose(target)


def test_restore_into_a_database_already_upgraded_to_the_schema(backed_up, new_database):
    """The operator's usual order, `db upgrade` then `restore`: the empty chain head the migrations write is not
    data, and the schema is taken as it is."""
    _source, path = backed_up
    target = make_app(new_database(SUITE_ENGINE))
    with context(target):
        upgrade()
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 0, restored.output
    assert "Audit chain verified on the copy" in restored.output
    dispose(target)


def test_a_backup_of_an_older_schema_is_restored_at_its_revision_then_upgraded(new_database, tmp_path):
    """A database still at revision 0003 (before sources and idempotency keys): its backup holds the tables
    and columns it has; the restore takes the target's schema (here already upgraded, so empty, down) to that
    revision, loads it, then migrates it to the code's revision."""
    source = make_app(new_database(SUITE_ENGINE))
    with context(source):
        upgrade(revision="0003")
        for n in range(3):
            audit.record("site.setting_changed", details={"n": n})
        db.session.commit()
    path = tmp_path / "old.zip"
    assert run(source, "backup", "--output", str(path)).exit_code == 0
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["schema_revision"] == "0003"
    assert "idempotency_keys" not in {t["name"] for t in manifest["tables"]}
    target = make_app(new_database(SUITE_ENGINE))
    with context(target):
        upgrade()
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 0, restored.output
    assert "Schema at revision 0003 (the empty database's, migrated from " in restored.output
    assert "Schema upgraded from revision 0003 to" in restored.output
    assert "Audit chain verified on the copy: 3 events." in restored.output
    dispose(source, target)


def _rewrite(path: Path, change) -> None:
    """Rewrite the backup at ``path`` as a well-formed zip, with ``change(name, bytes) -> bytes`` applied."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, change(name, data))


def test_tampered_backup_is_refused_by_the_manifest_before_touching_the_database(backed_up, new_database):
    _source, path = backed_up

    def edit_signature(name: str, data: bytes) -> bytes:
        return data.replace(b"Dana Okafor", b"Dana Okafor-Smith") if name == "tables/decisions.jsonl" else data

    _rewrite(path, edit_signature)
    target = make_app(new_database(SUITE_ENGINE))
    refused = run(target, "restore", str(path))
    assert refused.exit_code == 1
    assert "does not match its manifest" in refused.output
    assert "table decisions" in refused.output
    with context(target):
        assert inspect(db.engine).get_table_names() == []
    dispose(target)


def _reseal(path: Path) -> None:
    """Recompute the manifest's counts and hashes over the members as they now are: what someone who edits
    a backup and its manifest together would do."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    for entry in manifest["tables"]:
        data = members[f"tables/{entry['name']}.jsonl"]
        entry["rows"], entry["sha256"] = data.count(b"\n"), hashlib.sha256(data).hexdigest()
    manifest["sha256"] = backup.whole_digest(manifest["schema_revision"],
                                             [backup.TableSpec.from_manifest(t) for t in manifest["tables"]])
    _rewrite(path, lambda name, data: json.dumps(manifest).encode() if name == "manifest.json" else data)


def test_a_signature_edited_with_its_manifest_loads_but_fails_the_audit_verification(backed_up, new_database):
    _source, path = backed_up
    _rewrite(path, lambda name, data: data.replace(b"Dana Okafor", b"Dana Okafor-Smith")
             if name == "tables/decisions.jsonl" else data)
    _reseal(path)
    target = make_app(new_database(SUITE_ENGINE))
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 2
    assert "Audit chain does NOT verify" in restored.output and "decisions row 1 does not match" in restored.output
    assert "Wrong audit key" not in restored.output
    dispose(target)


def test_rows_the_database_refuses_are_not_kept(backed_up, new_database):
    """A revision pointing at an article that is not there (the manifest resealed): the load fails on the
    foreign key, nothing is kept, and the message says so."""
    _source, path = backed_up

    def orphan(name: str, data: bytes) -> bytes:
        if name != "tables/revisions.jsonl":
            return data
        first, rest = data.split(b"\n", 1)
        row = json.loads(first)
        row[1] = 999_999  # article_id
        return json.dumps(row, separators=(",", ":")).encode() + b"\n" + rest

    _rewrite(path, orphan)
    _reseal(path)
    target = make_app(new_database(SUITE_ENGINE))
    refused = run(target, "restore", str(path))
    assert refused.exit_code == 1
    assert "the database refused the rows, so nothing was kept" in refused.output
    with context(target):
        assert backup.data_tables(db.engine) == []
    dispose(target)


def test_restore_under_another_audit_key_loads_but_says_the_key_is_why_it_cannot_verify(backed_up, new_database):
    _source, path = backed_up
    target = make_app(new_database(SUITE_ENGINE), AUDIT_KEY="a-different-audit-key")
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 2
    assert "does NOT verify" in restored.output
    assert "REVIEWFLOW_AUDIT_KEY" in restored.output and "signed with key id" in restored.output
    assert "match the manifest" in restored.output  # the rows themselves are loaded and exact


def test_restore_refuses_a_backup_of_a_newer_schema(backed_up, new_database):
    _source, path = backed_up

    def newer(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schema_revision"] = "9999"
        manifest["sha256"] = backup.whole_digest("9999", [backup.TableSpec.from_manifest(t)
                                                          for t in manifest["tables"]])
        return json.dumps(manifest).encode()

    _rewrite(path, newer)
    target = make_app(new_database(SUITE_ENGINE))
    refused = run(target, "restore", str(path))
    assert refused.exit_code == 1
    assert "9999 is newer than this code knows" in refused.output
    dispose(target)


def test_failed_backup_leaves_the_previous_file_whole_and_no_partial_file(backed_up, monkeypatch):
    source, path = backed_up
    good = path.read_bytes()
    calls = []

    def failing(conn, spec, out):
        calls.append(spec.name)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(conn, spec, out)

    real = backup.dump._dump_table
    monkeypatch.setattr(backup.dump, "_dump_table", failing)
    with pytest.raises(OSError, match="disk full"):
        run(source["app"], "backup", "--output", str(path))
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".partial")) == []


def test_backup_taken_while_writers_write_is_a_consistent_snapshot(new_database, tmp_path, monkeypatch):
    """Four clients save articles through the API while the backup runs (slowed down between tables, so that
    many writes commit during it): the copy's chain verifies, its head names its last event, and each article
    in it has its revision."""
    source = build_source(new_database(SUITE_ENGINE))
    app, token = source["app"], source["writer_token"]
    stop, done, errors = threading.Event(), [], []

    def writer(n: int) -> None:
        client = app.test_client()
        i = 0
        while not stop.is_set():
            i += 1
            response = client.post("/api/v1/articles", json={"title": f"Writer {n} draft {i}", "body": "Text."},
                                   headers={"Authorization": f"Bearer {token}"})
            (done if response.status_code == 201 else errors).append(response.status_code)

    real = backup.dump._dump_table

    def slow(conn, spec, out):
        real(conn, spec, out)
        time.sleep(0.03)

    monkeypatch.setattr(backup.dump, "_dump_table", slow)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        while len(done) < 4:
            time.sleep(0.01)
        path = tmp_path / "busy.zip"
        made = run(app, "backup", "--output", str(path))
        written_by_end = len(done)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert made.exit_code == 0, made.output
    assert errors == []
    with zipfile.ZipFile(path) as zf:
        rows = {t["name"]: t["rows"] for t in json.loads(zf.read("manifest.json"))["tables"]}
    assert rows["articles"] < 3 + written_by_end, "no write committed while the backup ran: the test proves nothing"

    target = make_app(new_database(SUITE_ENGINE))
    restored = run(target, "restore", str(path))
    assert restored.exit_code == 0, restored.output
    with context(target):
        assert audit.verify(record_result=False).ok
        assert rows["revisions"] == db.session.scalar(text("SELECT count(*) FROM revisions"))
        orphans = db.session.scalar(text("SELECT count(*) FROM articles a WHERE NOT EXISTS "
                                         "(SELECT 1 FROM revisions r WHERE r.article_id = a.id)"))
        assert orphans == 0
    dispose(app, target)


def test_backup_refuses_a_database_without_a_schema_revision(new_database, tmp_path):
    """A schema made by create_all (as the other tests make theirs) has no Alembic revision for a restore to
    rebuild: said plainly, and no file written."""
    app = make_app(new_database("sqlite"))
    with context(app):
        db.create_all()
    path = tmp_path / "none.zip"
    refused = run(app, "backup", "--output", str(path))
    assert refused.exit_code == 1
    assert "no single schema revision" in refused.output
    assert list(tmp_path.glob("*.zip")) == [] and list(tmp_path.glob(".*.partial")) == []
    dispose(app)


def test_values_are_encoded_losslessly():
    when = datetime(2026, 3, 1, 23, 59, 58, 123456, tzinfo=UTC)
    values = {"datetime": when, "date": date(2026, 2, 28), "int": 2**40, "text": "naïve — “quoted”\n\ttab",
              "bool": False, "bytes": b"\x00\xff", "decimal": __import__("decimal").Decimal("1.10")}
    for kind, value in values.items():
        encoded = json.loads(json.dumps(backup.encode_value(kind, value)))
        assert backup.decode_value(kind, encoded) == value, kind
        assert backup.decode_value(kind, None) is None
    assert backup.encode_value("datetime", when) == "2026-03-01T23:59:58.123456+00:00"
    line = backup.encode_row(["int", "text", "datetime"], (1, "é", None))
    assert line == '[1,"é",null]\n'.encode()
    assert io.BytesIO(line).readline() == line
