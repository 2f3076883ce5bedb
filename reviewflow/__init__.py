"""reviewflow: the editorial back office of a health publisher.

``create_app`` is the application factory; each ``register_*`` step is a few lines.
"""
from __future__ import annotations

from pathlib import Path

from flask import Flask, g, request

import config as config_module
from reviewflow.extensions import csrf, db, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(config=None) -> Flask:
    """Build the app for ``config`` (a name, a class, or ``REVIEWFLOW_CONFIG``)."""
    cfg = config_module.load(config)
    if hasattr(cfg, "check"):
        cfg.check()
    app = Flask(__name__, template_folder=str(ROOT / "templates"), instance_path=str(ROOT / "instance"))
    app.config.from_object(cfg)
    Path(app.instance_path).mkdir(exist_ok=True)
    register_body_limit(app)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_request_hooks(app)
    register_template_helpers(app)
    register_cli(app)
    register_public_fastpath(app)
    return app


def register_body_limit(app: Flask) -> None:
    """Bodies over ``MAX_CONTENT_LENGTH``, chunked ones too, refused before any hook or view (``limits``)."""
    from reviewflow import limits

    limits.init_app(app)


def register_extensions(app: Flask) -> None:
    from reviewflow import models  # noqa: F401  (every model registered before migrations look)
    from reviewflow.auth.services import user_from_session_id

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(user_from_session_id)


def register_blueprints(app: Flask) -> None:
    from reviewflow.api import views as api_views
    from reviewflow.articles.views import bp as articles_bp
    from reviewflow.audit.views import bp as audit_bp
    from reviewflow.auth.access_views import bp as access_bp
    from reviewflow.auth.twofactor_views import bp as two_factor_bp
    from reviewflow.auth.views import bp as auth_bp
    from reviewflow.health import bp as health_bp
    from reviewflow.notifications.views import bp as notifications_bp
    from reviewflow.overview.views import bp as overview_bp
    from reviewflow.preferences.views import bp as preferences_bp
    from reviewflow.public.views import bp as public_bp
    from reviewflow.publishing.views import bp as publishing_bp
    from reviewflow.reviews.views import bp as reviews_bp
    from reviewflow.site.views import bp as site_bp
    from reviewflow.webhooks.views import bp as webhooks_bp

    for bp in (health_bp, auth_bp, articles_bp, reviews_bp, public_bp, publishing_bp, audit_bp, notifications_bp,
               api_views.bp, site_bp):
        app.register_blueprint(bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(overview_bp)
    app.register_blueprint(preferences_bp)
    app.register_blueprint(access_bp)
    app.register_blueprint(two_factor_bp)


def register_error_handlers(app: Flask) -> None:
    from reviewflow.errors import register_error_handlers as register

    register(app)


def register_request_hooks(app: Flask) -> None:
    """A request id for the audit trail; security headers and trusted proxies (``headers``); staff pages
    never cached; 303 after a POST."""
    from reviewflow import headers
    from reviewflow.public.fastpath import request_id

    headers.register(app)

    @app.before_request
    def _request_id() -> None:
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.after_request
    def _headers(response):
        if response.status_code == 302 and request.method == "POST":
            response.status_code = 303  # RFC 9110 15.4.4: see the result with a GET, whatever the client
        h = response.headers
        if "Cache-Control" not in h and not request.path.startswith("/static/"):
            h["Cache-Control"] = "no-store"
        h["X-Request-ID"] = g.get("request_id", "")
        return response


def register_public_fastpath(app: Flask) -> None:
    """Anonymous readers' public pages answered from finished responses (``public.fastpath``): this
    process's memory, then the shared store, then Flask."""
    from reviewflow.public import aside
    from reviewflow.public.fastpath import PublicFastPath
    from reviewflow.public.pagecache import public_cache
    from reviewflow.public.store import finished_store

    cookies = (app.config.get("SESSION_COOKIE_NAME", "session"),
               app.config.get("REMEMBER_COOKIE_NAME", "remember_token"))

    def lists(cache, environ, topic):
        found = aside.cached_lists(cache, environ.get("SCRIPT_NAME", ""), topic)
        if found is None:
            try:
                with app.request_context(environ):
                    found = aside.draw_lists(cache, topic)
            except Exception:  # the database is away: Flask answers (503)
                return None
        return found

    app.wsgi_app = PublicFastPath(app.wsgi_app, lambda: public_cache(app), "/articles/", cookies,
                                  store=lambda: finished_store(app), lists=lists, compose=aside.compose,
                                  origin=_origin(app.config.get("PUBLIC_URL")))


def _origin(public_url: str | None) -> str | None:
    """``scheme://host`` of the public address, the fast path's key for every page (None without one)."""
    from urllib.parse import urlsplit

    parts = urlsplit(public_url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def register_template_helpers(app: Flask) -> None:
    from reviewflow.templating import register

    register(app)


def register_cli(app: Flask) -> None:
    from reviewflow.cli import register

    register(app)
