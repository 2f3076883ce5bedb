"""Staff pages for review: the reviewer's queue and workspace, annotations, signing, and assignment.

Views load, validate, call one service, commit once, flash and redirect. Refusals that
belong next to a form (a quote not in the text, a wrong password, an unavailable reviewer)
are shown there with their status (``refusal_to``); every other refusal goes to the global handlers.
"""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from reviewflow import policy
from reviewflow.articles import workflow
from reviewflow.articles.models import ArticleState
from reviewflow.articles.rendering import render_markdown
from reviewflow.articles.services import get_article
from reviewflow.auth import twofactor
from reviewflow.auth.views import safe_next, verifier_names
from reviewflow.errors import BadPassword, Conflict, InvalidInput, StaleRevision, refusal_to
from reviewflow.extensions import db
from reviewflow.reviews import queries, ranking
from reviewflow.reviews import services as reviews
from reviewflow.reviews.forms import AnnotationForm, AssignForm, ReplyForm, SignForm
from reviewflow.reviews.models import MEANINGS
from reviewflow.reviews.ranking import Suggestion
from reviewflow.sources import services as sources
from reviewflow.sources import status as source_status
from reviewflow.sources.models import Verdict
from reviewflow.textrules import human_date

bp = Blueprint("reviews", __name__)


def _actor():
    return current_user._get_current_object()


# Queue -------------------------------------------------------------------------------------------

@bp.get("/reviews")
@login_required
def queue():
    """The reviewer's open assignments (keyset-paginated: ``?after=``/``?before=`` cursors, a malformed
    one shows the first page), then, on the first page, their recently completed reviews."""
    user = _actor()
    policy.require(user, "review.queue")
    keyset, counts = queries.QUEUE_KEYSET, queries.queue_counts(user)
    page = keyset.link(queries.review_queue(user, keyset.read(request.args), current_app.config["PER_PAGE"],
                                            counts["total"]), "reviews.queue")
    recent = queries.recently_completed(user) if not page.has_prev else []
    policy.know_assignments(user, [article.id for _, article, _ in recent])  # each row links if still allowed
    return render_template("reviews/queue.html", page=page, recent=recent, counts=counts,
                           due_soon_days=queries.DUE_SOON_DAYS)


# Workspace and annotations -----------------------------------------------------------------------

def _workspace(article, form: AnnotationForm | None = None, status: int = 200, reply_error: dict | None = None,
               source_error: dict | None = None):
    """Render the workspace of the current revision, with a form (fresh, or as typed with its errors)."""
    user = _actor()
    policy.authorize(user, "article.view", article)
    rev = article.revision
    annotations = queries.workspace_annotations(article)
    located = [a for a in annotations if a.is_open and not a.orphaned and a.anchored_revision == rev.number]
    body, marked = queries.highlight(render_markdown(rev.body), located)
    if form is None:
        form = AnnotationForm(formdata=None, revision=str(rev.number))
    last = queries.last_decided_revision(article, user)
    open_ = [a for a in annotations if a.is_open]
    return render_template(
        "reviews/workspace.html", article=article, revision=rev, body=body, marked=marked, form=form,
        annotations=[a for a in annotations if not (a.is_open and a.orphaned)],
        orphaned=[a for a in open_ if a.orphaned],
        open_count=len(open_), blocking_count=sum(1 for a in open_ if a.blocking),
        decisions=reviews.decisions_of(article), last_decided=last if last and last < rev.number else None,
        reply_error=reply_error or {}, source_states=source_status.source_states(article),
        source_error=source_error or {},
    ), status


@bp.get("/work/articles/<int:id>/review")
@login_required
def workspace(id: int):
    """The review workspace: the current revision with its annotations, and the decision buttons."""
    return _workspace(get_article(id))


@bp.post("/work/articles/<int:id>/annotations")
@login_required
def annotate(id: int):
    """Add an annotation; a quote that is not in the revision re-renders the form with the error (400)."""
    article = get_article(id)
    workflow.check(article, "annotate", _actor(), lock_row=False)
    form = AnnotationForm()
    with refusal_to(form, InvalidInput, field="quote") as refused:
        if form.validate_on_submit():
            ann = reviews.add_annotation(_actor(), article, form.revision.data, form.quote.data, form.comment.data,
                                         bool(form.blocking.data), form.prefix.data or "", form.suffix.data or "")
            db.session.commit()
            flash("Annotation added" + (" as blocking: it must be resolved before approval." if ann.blocking else "."),
                  "success")
            return redirect(url_for("reviews.workspace", id=article.id, _anchor=f"annotation-{ann.id}"))
    return _workspace(article, form, refused.status)


@bp.post("/work/articles/<int:id>/source-checks")
@login_required
def check_source(id: int):
    """A verdict on one source of the current revision (assigned reviewers); a refusal that belongs to the
    form (no comment, a stale revision) is shown beside that source, with what was typed."""
    article = get_article(id)
    key, verdict, comment = (request.form.get(name, "") for name in ("key", "verdict", "comment"))
    with refusal_to(None, InvalidInput, StaleRevision) as refused:
        sources.check_source(_actor(), article, request.form.get("revision", ""), key, verdict or None, comment)
        db.session.commit()
        flash(f"Verdict on source [^{key}] saved: {Verdict(verdict).label.lower()}.", "success")
        return redirect(url_for("reviews.workspace", id=article.id, _anchor=f"check-{key}"))
    error = {"key": key, "verdict": verdict, "comment": comment, "message": refused.message}
    return _workspace(article, status=refused.status, source_error=error)


@bp.post("/work/articles/<int:id>/source-flags")
@login_required
def flag_source(id: int):
    """Flag a source of the live version as outdated (editors, assigned reviewers): due for re-review."""
    article = get_article(id)
    key = request.form.get("key", "")
    with refusal_to(None, InvalidInput) as refused:
        sources.flag_source(_actor(), article, key, request.form.get("comment", ""))
        db.session.commit()
        flash(f"Source [^{key}] is flagged as outdated. The article is due for re-review; the re-review will ask "
              "for this source again.", "success")
    if refused:
        flash(f"Source [^{key}] was not flagged: {refused.message}", "error")
    return redirect(url_for("articles.detail", id=article.id, _anchor="live-sources"))


def _back(ann) -> str:
    """Where to go after acting on an annotation: a same-site ``next``, else the workspace."""
    target = safe_next(request.form.get("next") or request.args.get("next"))
    return target or url_for("reviews.workspace", id=ann.article_id, _anchor=f"annotation-{ann.id}")


@bp.post("/work/annotations/<int:id>/reply")
@login_required
def reply(id: int):
    """Reply in an annotation's thread (the article's staff)."""
    ann = reviews.get_annotation(id)
    article = get_article(ann.article_id)
    policy.authorize(_actor(), "annotation.reply", article)
    form = ReplyForm()
    if not form.validate_on_submit():
        return _workspace(article, status=400, reply_error={"id": ann.id, "text": form.comment.data or "",
                                                             "errors": form.comment.errors})
    reviews.reply_to_annotation(_actor(), ann, form.comment.data)
    db.session.commit()
    flash("Reply added.", "success")
    return redirect(_back(ann))


def _set_status(id: int, status: str, message: str):
    ann = reviews.get_annotation(id)
    reviews.set_annotation_status(_actor(), ann, status)
    db.session.commit()
    flash(message, "success")
    return redirect(_back(ann))


@bp.post("/work/annotations/<int:id>/resolve")
@login_required
def resolve(id: int):
    """Resolve an annotation (see the rule "annotation.resolve": blocking ones only by an assigned reviewer)."""
    return _set_status(id, "resolved", "Annotation resolved.")


@bp.post("/work/annotations/<int:id>/reopen")
@login_required
def reopen(id: int):
    """Reopen a resolved annotation (the same people who may resolve it)."""
    return _set_status(id, "open", "Annotation reopened.")


# Signing -----------------------------------------------------------------------------------------

@bp.route("/work/articles/<int:id>/sign", methods=["GET", "POST"])
@login_required
def sign(id: int):
    """The signing dialog: approve or request changes on the current revision with one's password. Every rule
    is the service's; its refusals re-render the dialog with the reason beside the field (``_sign_page``)."""
    article, user = get_article(id), _actor()
    form = _sign_form(article)
    workflow.check(article, "decide", user, lock_row=False, revision=article.revision)
    unavailable = _cannot_sign(user, article)
    with refusal_to(form) as refused:
        if not unavailable and form.validate_on_submit():
            signed = reviews.sign_decision(user, article, form.revision.data, form.decision, form.password.data,
                                           form.comment.data, form.checklist.data, code=form.code.data)
            db.session.commit()
            flash(_signed_message(article, signed.revision_number, form.decision), "success")
            return redirect(url_for("reviews.workspace", id=article.id))
    return _sign_page(article, form, unavailable, refused)


def _sign_form(article) -> SignForm:
    """The dialog's form for the decision asked (``?decision=``; 400 for another), its words set for it."""
    decision = request.args.get("decision", "")
    if decision not in MEANINGS:
        raise InvalidInput("Choose to approve or to request changes from the review page.", field="decision")
    form = SignForm()
    form.decision = decision
    _describe(form, decision)
    if request.method == "GET":
        form.revision.data = str(article.current_revision)
    return form


def _cannot_sign(user, article) -> str | None:
    """Why the reviewer cannot sign at all (licence, verification) and what to do about it, or None."""
    problem = reviews.reviewer_unavailable_reason(user, article)
    return (f"You cannot sign: {problem} Ask an admin to record your renewed licence or to verify your current "
            "credentials; your annotations and comments are still welcome meanwhile.") if problem else None


def _sign_page(article, form: SignForm, unavailable: str | None, refused: refusal_to):
    """The dialog, as asked or after a refusal: a wrong password 401, too many 429, a newer revision or an open
    blocking annotation 409, a missing checklist item or comment 400, beside its field or above the form;
    a reviewer who cannot sign gets the reason (409 when they tried). Nothing is signed then."""
    status = 409 if unavailable and request.method == "POST" else refused.status
    if isinstance(refused.error, BadPassword) and refused.error.field != "code":  # a wrong code: beside the code
        form.password.errors = [f"That password is not right. {form.verb} needs your password. Nothing was signed."]
    blocking = workflow.open_blocking(article) if form.decision == "approve" else []
    profile = _actor().profile
    return render_template("reviews/sign.html", article=article, revision=article.revision, form=form,
                           decision=form.decision, meaning=MEANINGS[form.decision], profile=profile,
                           problem=unavailable or " ".join(form.form_errors) or None,
                           stale=isinstance(refused.error, StaleRevision), blocking=blocking,
                           verifiers=verifier_names([profile]), two_factor=twofactor.enabled(_actor())), status


def _describe(form: SignForm, decision: str) -> None:
    """Labels and help that depend on the decision being signed."""
    form.checklist.choices = [(item, item) for item in current_app.config["REVIEW_CHECKLIST"]]
    if decision == "approve":
        form.checklist.description = "Tick each item you checked. Approval needs all of them."
        form.comment.label.text = "Comment (optional)"
        form.comment.description = "Kept with your signature and shown to the writer and editors."
    else:
        form.checklist.description = "Optional: tick what you checked; it is kept with your signature."
        form.comment.label.text = "Changes requested"
        form.comment.description = "What the writer must change before you can approve. Kept with your signature."
        form.comment.flags.required = True
    form.password.description = "Your sign-in password. It confirms that you, and nobody else, sign."


def _signed_message(article, number: int, decision: str) -> str:
    if decision == "request_changes":
        return f"You requested changes on revision {number}. The writer has been told, and your signature is recorded."
    if article.state == ArticleState.PUBLISHED:
        return (f"Re-review complete: version {article.live_version} is live with today's review date and the "
                "same text.")
    if article.state == ArticleState.APPROVED:
        return f"You approved revision {number}. Every reviewer has approved it; an editor can publish it now."
    return f"You approved revision {number}. It awaits the other reviewers before it is approved."


# Assignment --------------------------------------------------------------------------------------

def _assign_form(candidates: list[Suggestion]) -> AssignForm:
    """The form, its choices the ranked suggestions with their reasons (those who cannot serve disabled, with
    why) after an empty "Choose a reviewer…"; a fresh form starts on ``ranking.preselected`` (maybe nobody)."""
    form = AssignForm()
    choices: list[tuple] = [("", "Choose a reviewer…")]
    for row in candidates:
        person = row.user
        if row.available:
            choices.append((person.id, f"{person.display_name} · {row.why}"))
        else:
            label = f"{person.display_name} · {row.specialty or 'no specialty'} · cannot serve: {row.reason}"
            choices.append((person.id, label, {"disabled": True}))
    form.reviewer.choices = choices
    if not form.is_submitted():
        best = ranking.preselected(candidates)
        form.reviewer.data = best.user.id if best else None
    return form


def _assign_page(article, form: AssignForm, candidates: list[Suggestion], refused: refusal_to):
    """The page, with every reviewer's reasons, credentials and their verification (verifiers' names in one
    query), and a warning when nobody available matches the topic; a refusal is on the form."""
    if refused:  # its rollback expired the people loaded before: load them again, in the same queries
        candidates = reviews.suggested_reviewers(article)
    best = ranking.preselected(candidates)
    return render_template("reviews/assign.html", article=article, form=form,
                           assignments=queries.assignments_of(article), candidates=candidates,
                           suggested=best.user.id if best else None,
                           warning=ranking.match_warning(article.topic, candidates),
                           turnaround_decisions=queries.TURNAROUND_DECISIONS,
                           verifiers=verifier_names([row.user.profile for row in candidates])), refused.status


def _assigned_message(article, assignment) -> str:
    """What happened, with the due date, and a plain note when the reviewer works outside the topic."""
    reviewer = assignment.reviewer
    due = f", due {human_date(assignment.due_date)}" if assignment.due_date else ""
    message = f"{reviewer.display_name} is assigned to review “{article.title}”{due}. They have been notified."
    specialty = reviewer.profile.specialty if reviewer.profile else ""
    if not ranking.specialty_matches(article.topic, specialty):
        message += f" Their specialty ({specialty or 'none recorded'}) is outside the topic “{article.topic}”."
    return message


@bp.route("/work/articles/<int:id>/assign", methods=["GET", "POST"])
@login_required
def assign(id: int):
    """Assign a reviewer (editors); one who cannot serve is explained next to the form (409)."""
    article = get_article(id)
    workflow.check(article, "assign", _actor(), lock_row=False)
    candidates = reviews.suggested_reviewers(article)
    form = _assign_form(candidates)
    with refusal_to(form, Conflict, InvalidInput) as refused:
        if form.validate_on_submit():
            assignment = reviews.assign_reviewer(_actor(), article, form.reviewer.data, form.due_date.data)
            message = _assigned_message(article, assignment)  # written before the commit expires what was loaded
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("reviews.assign", id=article.id))
    return _assign_page(article, form, candidates, refused)


@bp.post("/work/articles/<int:id>/assignments/<int:aid>/withdraw")
@login_required
def withdraw(id: int, aid: int):
    """Withdraw a reviewer from the article (editors)."""
    article = get_article(id)
    assignment = reviews.get_assignment(article, aid)
    reviews.withdraw_assignment(_actor(), article, assignment)
    db.session.commit()
    flash(f"{assignment.reviewer.name} is withdrawn from “{article.title}”. Their signed decisions stay on record.",
          "success")
    return redirect(url_for("reviews.assign", id=article.id))
