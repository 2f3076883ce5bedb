"""Staff pages for articles: the dashboard, the article index, drafting with a live preview,
the article page, history and diffs, submission, and notifications.

Views are thin: load (404), ask the policy, validate the form, call one service, commit
once, flash, redirect. Lists come from ``articles.queries`` (a fixed number of SQL
statements whatever the data size). The writer's forms catch a service's refusal only to
show it inline with the writer's text kept; every other refusal goes to the global handlers.
"""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from reviewflow import policy
from reviewflow.articles import queries, workflow
from reviewflow.articles import services as articles
from reviewflow.articles.diffing import inline_diff, side_by_side, stats
from reviewflow.articles.forms import ArticleForm, RevisionForm
from reviewflow.articles.models import ArticleState
from reviewflow.articles.rendering import render_markdown
from reviewflow.articles.workflow import available_transitions
from reviewflow.errors import DomainError, InvalidInput, StaleRevision
from reviewflow.extensions import db
from reviewflow.notifications import services as notices
from reviewflow.publishing import services as publishing
from reviewflow.reviews import queries as review_queries
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from reviewflow.sources import status as source_status
from reviewflow.sources.parsing import citation_problems, sources_of

bp = Blueprint("articles", __name__)

#: Transitions drawn as a plain POST button on the article page, and the endpoint each posts to.
BUTTON_ENDPOINTS = {"submit": "articles.submit"}
DIFF_VIEWS = ("inline", "side")
#: Unchanged lines kept around each change in the side-by-side view; longer unchanged runs are folded.
DIFF_CONTEXT = 3


def _me():
    return current_user._get_current_object()


def _wants_preview() -> bool:
    """The no-JS preview: the form's "Preview" button re-renders the page instead of saving."""
    return request.method == "POST" and request.form.get("action") == "preview"


def _show_refusal(form, exc: DomainError) -> None:
    """Put a service's refusal next to its field (or above the form) so the writer's text stays."""
    db.session.rollback()
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and field.type != "HiddenField":
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


# Dashboard and lists -----------------------------------------------------------------


@bp.get("/dashboard")
@login_required
def dashboard():
    """The signed-in person's work: one section per role they hold, each limited with a "see all" link."""
    user = _me()
    writing = queries.writer_work(user) if user.has_role("writer") else None
    counts = review_queries.queue_counts(user) if user.has_role("reviewer") else None
    queue = review_queries.review_queue(user, None, queries.SECTION_LIMIT, counts["total"]) if counts else None
    editing = queries.editor_work() if user.has_role("editor") else None
    rereviews = (publishing.rereviews_due(queries.REREVIEW_HORIZON_DAYS, limit=queries.SECTION_LIMIT)
                 if editing else [])
    flagged = sources.flagged_for_rereview(queries.SECTION_LIMIT) if editing else []
    listed = [a.id for a in (writing.todo + writing.others if writing else [])]
    listed += [a.id for a in (editing.waiting + editing.ready if editing else [])]
    policy.know_assignments(user, [a.id for a in editing.ready] if editing else [])  # four eyes, row by row
    return render_template(
        "articles/dashboard.html", user=user, writing=writing, queue=queue, counts=counts, editing=editing,
        rereviews=rereviews, flagged=flagged,
        assignments=queries.assignments_by_article(listed), notifications=notices.recent(user, 5),
        unread=notices.unread_count(user), limit=queries.SECTION_LIMIT, due_soon_days=review_queries.DUE_SOON_DAYS,
    )


@bp.get("/work/articles")
@login_required
def index():
    """The articles the person may see, filtered by state, topic, scope and title, 25 a page
    (``?before=``/``?after=`` cursors; a malformed one shows the first page)."""
    user = _me()
    filters = queries.Filters.from_args(request.args)
    keyset = queries.INDEX_KEYSET
    page = queries.article_index(user, filters, keyset.read(request.args), current_app.config["PER_PAGE"])
    keyset.link(page, "articles.index", **filters.args())
    return render_template("articles/index.html", page=page, filters=filters, states=list(ArticleState),
                           topics=queries.topics_visible_to(user))


@bp.route("/notifications", methods=["GET", "POST"], endpoint="notifications")
@login_required
def notification_list():
    """The person's notifications, newest first; a POST marks them all as read."""
    user = _me()
    if request.method == "POST":
        notices.mark_all_read(user)
        db.session.commit()
        flash("All notifications are marked as read.", "success")
        return redirect(url_for("articles.notifications"))
    keyset = queries.NOTIFICATION_KEYSET
    page = queries.notifications_page(user, keyset.read(request.args), current_app.config["PER_PAGE"])
    keyset.link(page, "articles.notifications")
    return render_template("articles/notifications.html", page=page, unread=notices.unread_count(user))


# Writing ---------------------------------------------------------------------------


@bp.route("/work/articles/new", methods=["GET", "POST"])
@login_required
def new():
    """Start an article (writers): revision 1, as a draft."""
    user = _me()
    policy.require(user, "article.create")
    form, status = ArticleForm(), 200
    saving = request.method == "POST" and not _wants_preview()
    if saving and form.validate_on_submit():
        try:
            article = articles.create_article(user, form.title.data, form.body.data, form.topic.data or "",
                                              form.note.data or "")
        except DomainError as exc:
            _show_refusal(form, exc)
            status = exc.status
        else:
            db.session.commit()
            flash(f"“{article.title}” is saved as a draft (revision 1). Submit it for review when it is ready.",
                  "success")
            return redirect(url_for("articles.detail", id=article.id))
    elif saving:
        status = 400
    return render_template("articles/edit.html", form=form, article=None, stale=None,
                           preview=_preview(form.body.data) if form.body.data else None,
                           annotations=[], topics=queries.topic_suggestions()), status


@bp.route("/work/articles/<int:id>/edit", methods=["GET", "POST"])
@login_required
def edit(id: int):
    """Save a new revision (the article's writer). A stale base is shown inline with the text kept."""
    user = _me()
    article = articles.get_article(id)
    workflow.check(article, "revise", user, lock_row=False, base_revision=article.current_revision)
    current = article.revision
    form = RevisionForm(data=None if request.method == "POST" else
                        {"title": current.title, "body": current.body, "base_revision": current.number})
    stale, status = None, 200
    saving = request.method == "POST" and not _wants_preview()
    if saving and form.validate_on_submit():
        try:
            rev = articles.save_revision(user, article, form.title.data, form.body.data, form.base_revision.data,
                                         form.note.data or "")
        except StaleRevision as exc:
            db.session.rollback()
            stale = {"message": exc.message, "base": form.base_revision.data, "current": article.current_revision}
            # The writer has now been told; a second save deliberately builds on the latest revision.
            form.base_revision.data = str(article.current_revision)
            status = exc.status
        except DomainError as exc:
            _show_refusal(form, exc)
            status = exc.status
        else:
            db.session.commit()
            flash(f"Revision {rev.number} is saved.", "success")
            return redirect(url_for("articles.detail", id=article.id))
    elif saving:
        status = 400
    return render_template("articles/edit.html", form=form, article=article, stale=stale,
                           preview=_preview(form.body.data or ""),
                           annotations=[a for a in reviews.annotations_of(article) if a.is_open],
                           source_states=source_status.source_states(article), topics=[]), status


@bp.post("/work/preview")
@login_required
def preview():
    """The sanitised HTML of a Markdown ``body``, for the live preview (any signed-in staff)."""
    body = request.form.get("body", "")
    if len(body) > articles.BODY_MAX:
        raise InvalidInput(f"The text is longer than {articles.BODY_MAX:,} characters.", field="body")
    return Response(_preview(body), mimetype="text/html")


def _preview(body: str) -> Markup:
    """The writer's preview: the text as readers will see it, its numbered sources, and what is wrong with
    its footnotes (flagged before submitting)."""
    if not body.strip():
        return Markup("")
    return Markup(render_markdown(body)) + Markup(render_template(
        "articles/_preview_sources.html", sources=sources_of(body), problems=citation_problems(body)))


# The article ---------------------------------------------------------------------------


def _buttons(article, transitions) -> list[SimpleNamespace]:
    """The transitions drawn as plain POST buttons (``Transition.button``), with the URL each posts to."""
    return [SimpleNamespace(name=t.name, label=t.label, confirm=t.confirm, danger=t.danger,
                            url=url_for(BUTTON_ENDPOINTS[t.name], id=article.id))
            for t in transitions if t.button and t.name in BUTTON_ENDPOINTS]


@bp.get("/work/articles/<int:id>")
@login_required
def detail(id: int):
    """The article as staff see it: current revision, reviewers, live version, actions, signed decisions."""
    user = _me()
    article = articles.get_article(id)
    policy.authorize(user, "article.view", article)
    transitions = available_transitions(article, user)
    live = publishing.live_version_of(article)
    return render_template(
        "articles/detail.html", article=article, revision=article.revision,
        body_html=render_markdown(article.revision.body),
        assignments=queries.assignments_by_article([article.id], include_withdrawn=True)[article.id],
        live=live, live_sources=source_status.source_states(article, live.revision_number) if live else [],
        decisions=reviews.decisions_of(article),
        annotations=[a for a in reviews.annotations_of(article) if a.is_open],
        buttons=_buttons(article, transitions), actions={t.name for t in transitions},
    )


@bp.post("/work/articles/<int:id>/submit")
@login_required
def submit(id: int):
    """Submit for review (the writer). A second submit is a 409 with the reason."""
    user = _me()
    article = articles.get_article(id)
    policy.authorize(user, "article.view", article)
    articles.submit_article(user, article)
    db.session.commit()
    if article.state == ArticleState.IN_REVIEW:
        flash(f"Submitted for review: revision {article.current_revision} is with its reviewers, who have been "
              "notified.", "success")
    else:
        flash(f"Submitted for review: revision {article.current_revision} waits for an editor to assign a medical "
              "reviewer. You will be notified of their decision.", "success")
    return redirect(url_for("articles.detail", id=article.id))


@bp.get("/work/articles/<int:id>/history")
@login_required
def history(id: int):
    """Every revision of the article, newest first, with a form to compare any two."""
    article = articles.get_article(id)
    policy.authorize(_me(), "article.view", article)
    return render_template("articles/history.html", article=article, revisions=articles.revisions_of(article))


def _fold(rows: list, context: int = DIFF_CONTEXT) -> list:
    """Side-by-side rows with long unchanged runs folded into one ``kind="fold"`` row saying how many."""
    changed = [i for i, row in enumerate(rows) if row.kind != "equal"]
    keep = {j for i in changed for j in range(i - context, i + context + 1)}
    out, skipped = [], 0
    for i, row in enumerate(rows):
        if i in keep or not changed:
            if skipped:
                out.append(SimpleNamespace(kind="fold", count=skipped))
                skipped = 0
            out.append(row)
        else:
            skipped += 1
    if skipped:
        out.append(SimpleNamespace(kind="fold", count=skipped))
    return out


@bp.get("/work/articles/<int:id>/diff")
@login_required
def diff(id: int):
    """Revision ``a`` against revision ``b`` (default: the previous against the current), inline or side by side.

    A revision that does not exist is a 404; an unknown ``view`` a 400.
    """
    article = articles.get_article(id)
    policy.authorize(_me(), "article.view", article)
    view = request.args.get("view", "inline")
    if view not in DIFF_VIEWS:
        raise InvalidInput('The view must be "inline" or "side".', field="view")
    new_rev = articles.get_revision(article, request.args.get("b", article.current_revision))
    old_rev = articles.get_revision(article, request.args.get("a", max(1, new_rev.number - 1)))
    added, removed = stats(old_rev.body, new_rev.body)
    return render_template(
        "articles/diff.html", article=article, old=old_rev, new=new_rev, view=view, added=added, removed=removed,
        title_diff=inline_diff(old_rev.title, new_rev.title) if old_rev.title != new_rev.title else None,
        inline=inline_diff(old_rev.body, new_rev.body) if view == "inline" else None,
        rows=_fold(side_by_side(old_rev.body, new_rev.body)) if view == "side" else None,
        numbers=range(article.current_revision, 0, -1),
    )
