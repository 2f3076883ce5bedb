"""The public site: published articles, reviewer and writer pages, feeds; and the editor's publish pages."""
from __future__ import annotations

from flask import Blueprint, render_template

from reviewflow.publishing import services as publishing

bp = Blueprint("publishing", __name__)


@bp.get("/articles")
def index():
    rows, more = publishing.published_list()
    return render_template("public/index.html", rows=rows, more=more)


@bp.get("/articles/<slug>")
def article(slug: str):
    pa = publishing.public_article(slug)
    return render_template("public/article.html", pa=pa)
