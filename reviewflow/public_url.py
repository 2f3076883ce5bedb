"""Absolute addresses on the public site: the one place they are built.

Canonical links, JSON-LD, the Atom feed, the sitemap, robots.txt and e-mails name pages by
absolute address. They come from ``PUBLIC_URL`` (``REVIEWFLOW_PUBLIC_URL``) when it is set, never
from the request's Host header, which any client can choose (``Host: evil.example`` must not put
evil.example into a page a shared cache keeps, or into a search engine's index). Without it, in
development, they come from the request's own address; outside a request they stay relative.
"""
from __future__ import annotations

from flask import current_app, has_request_context, request, url_for


def base() -> str:
    """The public site's root, without a trailing slash: ``PUBLIC_URL``, else this request's root
    (development), else "" (a command run without ``PUBLIC_URL``: links stay relative)."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        return request.url_root.rstrip("/")
    return ""


def absolute(path: str) -> str:
    """``path``, an address on this app such as ``/articles/eczema`` (without the script root), made
    absolute on the public site."""
    if not path.startswith("/"):
        path = "/" + path
    return base() + path


def public_url_for(endpoint: str, **values) -> str:
    """``url_for`` on the public site: the absolute address of ``endpoint`` for readers and crawlers.

    Built from the app-relative path so that an app mounted under a prefix (``SCRIPT_NAME``) gets it
    from ``PUBLIC_URL`` rather than twice.
    """
    values.pop("_external", None)
    path = url_for(endpoint, **values)
    root = request.script_root if has_request_context() else ""
    if root and path.startswith(root + "/"):
        path = path[len(root):]
    return absolute(path)


def site_name() -> str:
    """The publisher's name (``SITE_NAME``) shown on the public site and as JSON-LD ``publisher``."""
    return current_app.config.get("SITE_NAME") or "reviewflow"
