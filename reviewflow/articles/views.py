"""Staff pages for articles: the dashboard, the article index, drafting with a live preview,
the article page, history and diffs, submission, and notifications.

Views are thin: load (404), ask the policy, validate the form, call one service, commit
once, flash, redirect. Lists come from ``articles.queries`` (a fixed number of SQL
statements whatever the data size). The writer's forms catch a service's refusal only to
show it inline with the writer's text kept (``refusal_to``); every other refusal goes to the global handlers.
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
from reviewflow.errors import InvalidInput, StaleRevision, refusal_to
from reviewflow.extensions import db
from reviewflow.notifications import inbox
from reviewflow.notifications import services as notices
from reviewflow.publishing import services as publishing
from reviewflow.reviews import queries as review_queries
from reviewflow.reviews import services as reviews
from reviewflow.sources import services as sources
from reviewflow.sources import status as source_status
from reviewflow.sources.parsing import citation_problems, sources_of
from reviewflow.textrules import counted

bp = Blueprint("articles", __name__)

#: Transitions drawn as a plain POST button on the article page, and the endpoint each posts to.
BUTTON_ENDPOINTS = {"submit": "articles.submit"}
DIFF_VIEWS = ("inline", "side")
#: Unchanged lines kept around each change in the side-by-side view; longer unchanged runs are folded.
DIFF_CONTEXT = 3


def _me():
    return current_user._get_current_object()


def _saving(form) -> bool:
    """A valid POST of the writing form's "Save" (its no-JS "Preview" button re-renders the page instead)."""
    return request.method == "POST" and request.form.get("action") != "preview" and form.validate_on_submit()


def _writing_page(form, status: int, article=None, stale: dict | None = None):
    """The writing page with the text as typed and its preview; for a revision, its open annotations and
    sources (a refusal of the save is on the form, a newer revision in ``stale``)."""
    return render_template(
        "articles/edit.html", form=form, article=article, stale=stale, preview=_preview(form.body.data or ""),
        annotations=[a for a in reviews.annotations_of(article) if a.is_open] if article else [],
        source_states=source_status.source_states(article) if article else [],
        topics=[] if article else queries.topic_suggestions()), status


def _stale_notice(form, article, stale: refusal_to) -> dict | None:
    """A save refused because a newer revision exists, as the page tells it. The writer has now been told,
    so their next save deliberately builds on the latest revision."""
    if not stale:
        return None
    notice = {"message": stale.message, "base": form.base_revision.data, "current": article.current_revision}
    form.base_revision.data = str(article.current_revision)
    return notice


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
    in_review = review_queries.reviews_in_progress(queries.SECTION_LIMIT) if editing else None
    due = _due_for_rereview() if editing else {"rereviews": [], "flagged": []}
    listed = [a.id for a in (writing.todo + writing.others if writing else [])]
    listed += [a.id for a in (editing.waiting + editing.ready if editing else [])]
    policy.know_assignments(user, [a.id for a in editing.ready] if editing else [])  # four eyes, row by row
    return render_template(
        "articles/dashboard.html", user=user, writing=writing, queue=queue, counts=counts, editing=editing, **due,
        in_review=in_review,
        assignments=queries.assignments_by_article(listed), notifications=notices.recent(user, 5),
        unread=notices.unread_count(user), limit=queries.SECTION_LIMIT, due_soon_days=review_queries.DUE_SOON_DAYS)


def _due_for_rereview() -> dict:
    """The editors' sections of what is due for re-review: periodic ones coming due, and live articles with
    a source flagged as outdated."""
    return {"rereviews": publishing.rereviews_due(queries.REREVIEW_HORIZON_DAYS, limit=queries.SECTION_LIMIT),
            "flagged": sources.flagged_for_rereview(queries.SECTION_LIMIT)}


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
    """The person's notifications grouped by article, newest group first (``?before=``/``?after=``
    cursors). A POST marks read one group (``article``, or ``notification`` for one about no article:
    404 unless it is the person's own) and stays on the page, or all of them."""
    user, keyset = _me(), inbox.KEYSET
    if request.method == "POST":
        return _mark_read(user, keyset)
    page = inbox.groups_page(user, keyset.read(request.args), current_app.config["PER_PAGE"])
    keyset.link(page, "articles.notifications")
    return render_template("articles/notifications.html", page=page, unread=notices.unread_count(user),
                           email_mode=notices.email_mode(user))


def _mark_read(user, keyset):
    """Mark one group read (staying on the page the person was on), or all of them."""
    if "article" in request.form or "notification" in request.form:
        marked = inbox.mark_group_read(user, article=request.form.get("article"),
                                       notification=request.form.get("notification"))
        db.session.commit()
        flash(f"{counted(marked, 'notification')} marked as read." if marked else "Nothing new there.", "success")
        here = ({name: request.args[name] for name in (keyset.next, keyset.prev) if name in request.args}
                if keyset.read(request.args) else {})
        return redirect(url_for("articles.notifications", **here), code=303)
    notices.mark_all_read(user)
    db.session.commit()
    flash("All notifications are marked as read.", "success")
    return redirect(url_for("articles.notifications"), code=303)


# Writing ---------------------------------------------------------------------------


@bp.route("/work/articles/new", methods=["GET", "POST"])
@login_required
def new():
    """Start an article (writers): revision 1, as a draft."""
    user = _me()
    policy.require(user, "article.create")
    form = ArticleForm()
    with refusal_to(form) as refused:
        if _saving(form):
            article = articles.create_article(user, form.title.data, form.body.data, form.topic.data or "",
                                              form.note.data or "")
            db.session.commit()
            flash(f"“{article.title}” is saved as a draft (revision 1). Submit it for review when it is ready.",
                  "success")
            return redirect(url_for("articles.detail", id=article.id))
    return _writing_page(form, refused.status)


@bp.route("/work/articles/<int:id>/edit", methods=["GET", "POST"])
@login_required
def edit(id: int):
    """Save a new revision (the article's writer). A stale base is shown inline with the text kept."""
    user, article = _me(), articles.get_article(id)
    workflow.check(article, "revise", user, lock_row=False, base_revision=article.current_revision)
    current = article.revision
    form = RevisionForm(data=None if request.method == "POST" else
                        {"title": current.title, "body": current.body, "base_revision": current.number})
    with refusal_to(form) as refused, refusal_to(None, StaleRevision) as stale:
        if _saving(form):
            rev = articles.save_revision(user, article, form.title.data, form.body.data, form.base_revision.data,
                                         form.note.data or "")
            db.session.commit()
            flash(f"Revision {rev.number} is saved.", "success")
            return redirect(url_for("articles.detail", id=article.id))
    return _writing_page(form, stale.status if stale else refused.status, article, _stale_notice(form, article, stale))


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


def _buttons(article, transitions, asked_on: int | None = None) -> list[SimpleNamespace]:
    """The transitions drawn as plain POST buttons (``Transition.button``), with the URL each posts to.

    After a request for changes (signed on revision ``asked_on``), submitting again is a step of its own,
    offered once a new revision is saved: the button opens the resubmit page (``href``), which lists what
    was asked and answered before the writer sends the revision back.
    """
    buttons = []
    waiting_for_revision = (article.state == ArticleState.CHANGES_REQUESTED and asked_on is not None
                            and article.current_revision <= asked_on)
    for t in transitions:
        if not (t.button and t.name in BUTTON_ENDPOINTS) or (t.name == "submit" and waiting_for_revision):
            continue
        button = SimpleNamespace(name=t.name, label=t.label, confirm=t.confirm, danger=t.danger, href=None,
                                 url=url_for(BUTTON_ENDPOINTS[t.name], id=article.id))
        if t.name == "submit" and article.state == ArticleState.CHANGES_REQUESTED:
            button.label, button.confirm = "Resubmit for review…", None
            button.href = url_for("articles.resubmit", id=article.id)
        buttons.append(button)
    return buttons


def _changes_requested_on(decisions) -> int | None:
    """The revision the latest request for changes was signed on (None when nobody asked for changes)."""
    asked = [d.revision_number for d in decisions if d.decision == "request_changes"]
    return asked[-1] if asked else None


@bp.get("/work/articles/<int:id>")
@login_required
def detail(id: int):
    """The article as staff see it: current revision, reviewers, live version, actions, signed decisions."""
    user, article = _me(), articles.get_article(id)
    policy.authorize(user, "article.view", article)
    transitions = available_transitions(article, user)
    live = publishing.live_version_of(article)
    decisions = reviews.decisions_of(article)
    asked_on = _changes_requested_on(decisions)
    return render_template(
        "articles/detail.html", article=article, revision=article.revision,
        body_html=render_markdown(article.revision.body),
        assignments=queries.assignments_by_article([article.id], include_withdrawn=True)[article.id],
        live=live, live_sources=source_status.source_states(article, live.revision_number) if live else [],
        decisions=decisions, changes_requested_on=asked_on,
        annotations=[a for a in reviews.annotations_of(article) if a.is_open],
        buttons=_buttons(article, transitions, asked_on), actions={t.name for t in transitions},
    )


@bp.get("/work/articles/<int:id>/resubmit")
@login_required
def resubmit(id: int):
    """The step before sending a revised article back: what the reviewers asked (each annotation, open or
    resolved, with the replies), where each source stands, and what changed since the request."""
    user = _me()
    article = articles.get_article(id)
    workflow.check(article, "submit", user, lock_row=False)
    if article.state != ArticleState.CHANGES_REQUESTED:
        return redirect(url_for("articles.detail", id=article.id))
    decisions = reviews.decisions_of(article)
    annotations = reviews.annotations_of(article)
    return render_template(
        "articles/resubmit.html", article=article, asked_on=_changes_requested_on(decisions),
        requests=[d for d in decisions if d.decision == "request_changes"],
        open_annotations=[a for a in annotations if a.is_open],
        resolved_annotations=[a for a in annotations if not a.is_open],
        source_states=source_status.source_states(article, article.current_revision),
        submit_url=url_for("articles.submit", id=article.id),
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
    return _diff_page(article, old_rev, new_rev, view)


def _diff_page(article, old_rev, new_rev, view: str):
    added, removed = stats(old_rev.body, new_rev.body)
    return render_template(
        "articles/diff.html", article=article, old=old_rev, new=new_rev, view=view, added=added, removed=removed,
        title_diff=inline_diff(old_rev.title, new_rev.title) if old_rev.title != new_rev.title else None,
        inline=inline_diff(old_rev.body, new_rev.body) if view == "inline" else None,
        rows=_fold(side_by_side(old_rev.body, new_rev.body)) if view == "side" else None,
        numbers=range(article.current_revision, 0, -1),
    )
