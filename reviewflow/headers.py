"""Security headers of every response, and the client's address behind trusted proxies.

- ``Content-Security-Policy``: scripts, styles and images from this site only (images also as
  ``data:``). A draft's remote image would tell its host the address of every reviewer who opens
  the draft, so no page loads images from elsewhere; the Markdown renderer turns them into links
  (``articles.rendering``). One exception: public pages show the site's logo, which an admin may
  set to an ``https://`` address (``site.services.check_logo_url``); those pages allow that one
  origin, chosen by an admin, never by a writer.
- ``Strict-Transport-Security`` in production (``HSTS``), unless ``REVIEWFLOW_PUBLIC_URL`` says
  the site is served over plain ``http://``.
- ``TRUSTED_PROXIES``: how many proxies in front of the app set ``X-Forwarded-For`` (and
  ``-Proto``). With 0 (the default) these headers are ignored and the client is the
  socket's peer; with 1 the last address the one proxy appended is taken (werkzeug's ``ProxyFix``).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from reviewflow.outages import DB_UNAVAILABLE
from reviewflow.site import services as site

CSP = ("default-src 'self'; img-src 'self' data:{extra}; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'")
HSTS = "max-age=31536000; includeSubDomains"
#: Blueprints whose pages draw the public site's header, with its logo.
PUBLIC_BLUEPRINTS = ("public", "site")


def content_security_policy(logo_url: str | None = None) -> str:
    """The policy, allowing the origin of an admin's ``https://`` logo when one is given."""
    parts = urlsplit(logo_url or "")
    extra = f" https://{parts.netloc}" if parts.scheme == "https" and parts.netloc else ""
    return CSP.format(extra=extra)


def hsts_enabled(config) -> bool:
    """HSTS in production, unless the public address is plain http (a loopback test, say)."""
    if "HSTS" in config and config["HSTS"] is not None:
        return bool(config["HSTS"])
    return config.get("NAME") == "production" and not (config.get("PUBLIC_URL") or "").startswith("http://")


def _logo_of_public_page(response) -> str | None:
    if request.blueprint not in PUBLIC_BLUEPRINTS or response.mimetype != "text/html":
        return None
    if request.path.startswith(("/work/", "/admin/")) or request.environ.get(DB_UNAVAILABLE):
        return None
    try:
        return site.current().logo_url
    except SQLAlchemyError:  # the page is answered anyway, without the logo's origin at worst
        return None


def register(app: Flask) -> None:
    """Trust ``TRUSTED_PROXIES`` proxies; set the security headers on every response."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    hsts = hsts_enabled(app.config)

    @app.after_request
    def _security_headers(response):
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Content-Security-Policy", content_security_policy(_logo_of_public_page(response)))
        if hsts:
            h.setdefault("Strict-Transport-Security", HSTS)
        return response
