"""Structured data of a public article page: schema.org JSON-LD (MedicalWebPage with its Article,
reviewers, publisher and BreadcrumbList) and the Open Graph and Twitter card tags.

Built from the published version as signed, never from drafts; every address is absolute on the
public site (``reviewflow.public_url``), never taken from the Host header.
"""
from __future__ import annotations

import html
import re
from datetime import UTC

from reviewflow import public_url
from reviewflow.extensions import iso
from reviewflow.public import dates
from reviewflow.site import services as site

#: The first image: one on this site, or one from elsewhere that the renderer drew as a link (for
#: og:image and JSON-LD, fetched by search engines and social sites, not by readers' browsers).
_IMG = re.compile(r'<img[^>]*?\ssrc="([^"]+)"|<a href="([^"]+)" class="remote-image"')


def _credentials(text: str) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _reviewer(r) -> dict:
    """A sign-off's reviewer as a schema.org Person, with the credentials and specialty as signed.

    ``medicalSpecialty`` is defined for Physician and medical organisations, not Person, so the
    specialty as recorded ("Dermatology") is ``knowsAbout``, and ``jobTitle`` says it in the page's
    words: "Specialist in Dermatology".
    """
    person = {"@type": "Person", "name": r.name,
              "url": public_url.public_url_for("public.reviewer", user_id=r.reviewer_id)}
    if r.credentials:
        person["honorificSuffix"] = r.credentials
        person["hasCredential"] = [{"@type": "EducationalOccupationalCredential",
                                    "credentialCategory": "professional credential", "name": c}
                                   for c in _credentials(r.credentials)]
    if r.specialty:
        person["jobTitle"] = f"Specialist in {r.specialty}"
        person["knowsAbout"] = r.specialty
    if r.affiliation:
        person["affiliation"] = {"@type": "Organization", "name": r.affiliation}
    return person


def publisher() -> dict:
    """The publisher of every public page: the site (``SITE_NAME`` at ``PUBLIC_URL``), with its logo when
    an admin set one."""
    org = {"@type": "Organization", "name": public_url.site_name(), "url": public_url.base()}
    logo = site.current().logo_url
    if logo:
        org["logo"] = {"@type": "ImageObject", "url": absolute(logo)}
    return org


def absolute(src: str) -> str:
    """An address from a page or a setting made absolute on the public site (``https://…`` as it is)."""
    return src if "://" in src else public_url.absolute(src)


def first_image(body_html: str) -> str | None:
    """The absolute address of the article's first image, if its text has one."""
    match = _IMG.search(body_html or "")
    src = (match[1] or match[2]) if match else ""
    return absolute(html.unescape(src)) if src.startswith(("https://", "/")) else None


def breadcrumb_list(items: list[tuple[str, str]]) -> dict:
    """schema.org BreadcrumbList of ``(name, absolute url)`` pairs, in order."""
    return {"@type": "BreadcrumbList", "itemListElement": [
        {"@type": "ListItem", "position": i, "name": name, "item": url} for i, (name, url) in enumerate(items, 1)]}


def jsonld(version, when: dates.TextDates, url: str) -> dict:
    """Schema.org MedicalWebPage for one published version, from the sign-offs as signed.

    ``url`` is the live article's address, on a version's own page too (its canonical).
    ``lastReviewed`` is the Date of the latest signed approval behind the version;
    ``dateModified`` is when its text last changed (``when``), so a re-review of unchanged text
    moves only ``lastReviewed``. The article itself is the page's ``mainEntity``.
    """
    author = {"@type": "Person", "name": version.writer_name,
              "url": public_url.public_url_for("public.writer", user_id=version.writer_id)}
    org = publisher()
    published, modified = iso(when.first_published, "seconds"), iso(when.text_changed, "seconds")
    image = first_image(version.body_html)
    crumbs = breadcrumb_list([
        ("Articles", public_url.public_url_for("public.index")),
        (version.topic, public_url.public_url_for("public.index", topic=version.topic)), (version.title, url)])
    return {
        "@context": "https://schema.org", "@type": "MedicalWebPage", "name": version.title,
        "headline": version.title, "url": url, "description": version.summary, "inLanguage": "en",
        "about": {"@type": "Thing", "name": version.topic}, "version": str(version.version),
        "reviewedBy": [_reviewer(r) for r in version.reviews],
        "lastReviewed": version.last_reviewed_at.astimezone(UTC).date().isoformat(),
        "author": author, "publisher": org, "datePublished": published, "dateModified": modified,
        "breadcrumb": crumbs,
        "mainEntity": {"@type": "Article", "@id": f"{url}#article", "headline": version.title,
                       "description": version.summary, "articleSection": version.topic, "inLanguage": "en",
                       "author": author, "publisher": org, "datePublished": published,
                       "dateModified": modified, **({"image": image} if image else {})},
        **({"image": image} if image else {}),
        **_citations(version),
    }


def social_tags(version, when: dates.TextDates, url: str) -> list[tuple[str, str, str]]:
    """Open Graph and Twitter card tags of an article page as ``(attribute, name, content)``:
    ``property`` for Open Graph, ``name`` for Twitter. The image is the article's first (a large card),
    else the site's logo (a small one), else none."""
    image = first_image(version.body_html)
    logo = site.current().logo_url
    tags = [("property", "og:type", "article"), ("property", "og:site_name", public_url.site_name()),
            ("property", "og:title", version.title), ("property", "og:description", version.summary),
            ("property", "og:url", url), ("property", "og:locale", "en_US"),
            ("property", "article:published_time", iso(when.first_published, "seconds")),
            ("property", "article:modified_time", iso(when.text_changed, "seconds")),
            ("property", "article:section", version.topic),
            ("name", "twitter:card", "summary_large_image" if image else "summary"),
            ("name", "twitter:title", version.title), ("name", "twitter:description", version.summary)]
    if image or logo:
        tags += [("property", "og:image", image or absolute(logo)), ("name", "twitter:image", image or absolute(logo))]
    return [t for t in tags if t[2]]


def _citations(version) -> dict:
    """The version's sources as schema.org ``citation``: CreativeWorks with name and url."""
    works = [{"@type": "CreativeWork", "name": s["text"], **({"url": s["url"]} if s.get("url") else {})}
             for s in version.sources]
    return {"citation": works} if works else {}
