"""The shared store of finished pages: rows of ``finished_pages`` that every process reads before it renders.

A row is a finished page (status, headers, body) under its key, with the scope it shows and the counter read
before it was built (see ``public.pagecache`` for scopes, stamps and the counter), and the build that made
it: the code, templates, static files, public address and site name (``build_id``). A row of another build
is ignored, so a deploy never serves a page its templates would not make (``flask finish-pages`` refills the
store before traffic). Failures are misses: this is a cache, and a page can always be rendered.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import text

from reviewflow.extensions import db

#: Keys longer than this are not stored in the shared table (the column's width).
MAX_KEY = 600

ROOT = Path(__file__).resolve().parents[2]


def code_id(app: Flask) -> str:
    """What a finished page depends on besides the data and the settings: the templates, the app's code and
    the static files' names and sizes (read once per process)."""
    digest = hashlib.sha256()
    for folder, pattern in ((ROOT / "templates", "**/*.html"), (ROOT / "reviewflow", "**/*.py")):
        for path in sorted(folder.glob(pattern)):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    static = Path(app.static_folder or ROOT / "static")
    if static.is_dir():
        for path in sorted(static.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(static)}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def build_id(app: Flask, code: str) -> str:
    """The code and the configured public address and site name: a row of another build is ignored."""
    settings = repr((app.config.get("PUBLIC_URL"), app.config.get("SITE_NAME"))).encode()
    return hashlib.sha256(code.encode() + settings).hexdigest()[:32]


class FinishedStore:
    """Finished pages in the database, shared by every process: ``load`` is one indexed query that also
    checks the row is no older than the last change of its scope and of the site; ``save`` keeps a page
    (replacing a row of another build or an older counter). Failures are misses: this is a cache."""

    LOAD = text(
        "SELECT f.status, f.meta, f.body, f.scope FROM finished_pages f WHERE f.key = :key AND f.build = :build "
        "AND f.generation >= COALESCE((SELECT s.generation FROM page_stamps s WHERE s.scope = f.scope), 0) "
        "AND f.generation >= COALESCE((SELECT s.generation FROM page_stamps s WHERE s.scope = 0), 0)")

    def __init__(self, engine, app: Flask) -> None:
        self.engine, self.app, self.code = engine, app, code_id(app)
        self.postgres = engine.dialect.name == "postgresql"

    @property
    def build(self) -> str:
        return build_id(self.app, self.code)

    def load(self, key: str):
        if len(key) > MAX_KEY:
            return None
        try:
            with self.engine.connect() as conn:
                row = conn.execute(self.LOAD, {"key": key, "build": self.build}).first()
        except Exception:
            return None
        return None if row is None else (row[0], json.loads(row[1]), bytes(row[2]), row[3])

    def save(self, key: str, scope: int, generation: int, status: int, meta: dict, body: bytes) -> bool:
        if len(key) > MAX_KEY:
            return False
        values = {"key": key, "scope": scope, "generation": generation, "build": self.build, "status": status,
                  "meta": json.dumps(meta, separators=(",", ":")), "body": body}
        upsert = text(
            "INSERT INTO finished_pages (key, scope, generation, build, status, meta, body) "
            "VALUES (:key, :scope, :generation, :build, :status, :meta, :body) "
            "ON CONFLICT (key) DO UPDATE SET scope = excluded.scope, generation = excluded.generation, "
            "build = excluded.build, status = excluded.status, meta = excluded.meta, body = excluded.body "
            "WHERE finished_pages.build <> excluded.build OR finished_pages.generation < excluded.generation")
        try:
            with self.engine.connect() as conn:
                try:
                    if not self.postgres:  # a reader never waits long for a cache write (reset below)
                        conn.exec_driver_sql("PRAGMA busy_timeout = 200")
                    conn.execute(upsert, values)
                    conn.commit()
                finally:
                    conn.rollback()
                    if not self.postgres:
                        conn.exec_driver_sql("PRAGMA busy_timeout = 10000")
                        conn.commit()
        except Exception:
            return False
        return True


STORE_KEY = "reviewflow.finished_store"


def finished_store(app: Flask | None = None) -> FinishedStore | None:
    """This app's shared store of finished pages (None when ``PUBLIC_FINISHED_STORE`` is off)."""
    app = app or current_app
    if not app.config.get("PUBLIC_FINISHED_STORE", True):
        return None
    store = app.extensions.get(STORE_KEY)
    if store is None:
        with app.app_context():
            engine = db.engine
        store = app.extensions[STORE_KEY] = FinishedStore(engine, app)
    return store
