"""Every authorization rule of reviewflow, in one place.

Each rule is a small function ``(user, obj) -> bool`` registered under a name and a
one-line docstring that states it in English (shown on 403 pages). ``can`` answers,
``require`` raises ``Forbidden``. Views, API endpoints, services and ``workflow.apply``
all ask here; templates get ``can`` so no page re-implements a rule.

Separation of duties: nobody reviews or publishes an article they wrote.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from reviewflow.articles.models import Article
from reviewflow.auth import twofactor
from reviewflow.errors import Forbidden, NotFound
from reviewflow.extensions import db
from reviewflow.reviews.models import Decision, ReviewAssignment

RULES: dict[str, Callable] = {}


def rule(name: str):
    def register(fn: Callable) -> Callable:
        RULES[name] = fn
        return fn

    return register


def _active(user) -> bool:
    """Signed in, active, and not waiting to set up a second factor their role requires (``account.act``)."""
    return user is not None and getattr(user, "is_authenticated", False) and user.is_active \
        and not twofactor.must_enrol(user)


def _role(user, role: str) -> bool:
    return _active(user) and user.has_role(role)


def _writes(user, article) -> bool:
    return article is not None and _active(user) and article.writer_id == user.id


#: Where ``active_assignment`` remembers its answers: the session's ``info``, so they live no longer
#: than the request (or the unit of work) and are forgotten at every flush, commit and rollback.
MEMO_KEY = "reviewflow.policy.assignments"


def _memo() -> dict:
    return db.session.info.setdefault(MEMO_KEY, {})


def active_assignment(user, article):
    """The user's active (not withdrawn) assignment on the article, or None.

    Asked once per (user, article) until the session next writes: a page that checks several
    rules on one article, or ``know_assignments`` for a list, costs one query, not one per check.
    """
    if not _active(user) or article is None:
        return None
    memo, key = _memo(), (user.id, article.id)
    if key not in memo:
        memo[key] = db.session.scalar(_active_assignments(user, [article.id]))
    return memo[key]


def know_assignments(user, article_ids) -> None:
    """Learn the user's active assignments on many articles in one query (a list asking ``can`` per row)."""
    if not _active(user):
        return
    memo = _memo()
    wanted = {i for i in article_ids if (user.id, i) not in memo}
    if not wanted:
        return
    found = {a.article_id: a for a in db.session.scalars(_active_assignments(user, wanted))}
    memo.update({(user.id, i): found.get(i) for i in wanted})


def _active_assignments(user, article_ids):
    return select(ReviewAssignment).where(
        ReviewAssignment.article_id.in_(article_ids),
        ReviewAssignment.reviewer_id == user.id,
        ReviewAssignment.status != "withdrawn",
    )


@event.listens_for(Session, "after_flush")
@event.listens_for(Session, "after_transaction_end")
def _forget_assignments(session, *args) -> None:
    session.info.pop(MEMO_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_on_bulk_writes(state) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        state.session.info.pop(MEMO_KEY, None)


def _reviews(user, article) -> bool:
    return _role(user, "reviewer") and active_assignment(user, article) is not None


def _staff(user, article) -> bool:
    return _writes(user, article) or _role(user, "editor") or _role(user, "admin") or _reviews(user, article)


@rule("account.act")
def _act(user, obj=None) -> bool:
    """Reviewers, editors and admins set up two-factor sign-in before they can do anything else."""
    return _active(user)


@rule("article.create")
def _create(user, obj=None) -> bool:
    """Only writers can start an article."""
    return _role(user, "writer")


@rule("article.view")
def _view(user, article) -> bool:
    """Only the article's writer, its assigned reviewers, editors and admins can see an unpublished article."""
    return _staff(user, article)


@rule("article.list_all")
def _list_all(user, obj=None) -> bool:
    """Only editors and admins see every article."""
    return _role(user, "editor") or _role(user, "admin")


@rule("article.edit")
def _edit(user, article) -> bool:
    """Only the article's writer can save a revision of it."""
    return _writes(user, article) and user.has_role("writer")


@rule("article.submit")
def _submit(user, article) -> bool:
    """Only the article's writer can submit it for review."""
    return _writes(user, article) and user.has_role("writer")


@rule("review.assign")
def _assign(user, article) -> bool:
    """Only editors can assign or withdraw reviewers."""
    return _role(user, "editor")


@rule("article.decide")
def _decide(user, article) -> bool:
    """Only a reviewer assigned to the article, who did not write it, can approve or request changes."""
    return not _writes(user, article) and _reviews(user, article)


@rule("annotation.create")
def _annotate(user, article) -> bool:
    """Only a reviewer assigned to the article can annotate it."""
    return not _writes(user, article) and _reviews(user, article)


@rule("annotation.reply")
def _reply(user, article) -> bool:
    """Only the article's writer, its assigned reviewers, editors and admins can reply to annotations."""
    return _staff(user, article)


@rule("annotation.resolve")
def _resolve(user, annotation) -> bool:
    """Only an assigned reviewer resolves a blocking annotation (its author, or another once the author is withdrawn); the writer may also resolve suggestions."""  # noqa: E501
    if not _active(user) or annotation is None:
        return False
    article = db.session.get(Article, annotation.article_id)
    assigned = _reviews(user, article) and not _writes(user, article)
    author_assigned = annotation.author_id == user.id or active_assignment(annotation.author, article) is not None
    if annotation.blocking:
        return assigned and (annotation.author_id == user.id or not author_assigned)
    return (_writes(user, article) and user.has_role("writer")) or (assigned and (
        annotation.author_id == user.id or not author_assigned))


@rule("source.check")
def _check_source(user, article) -> bool:
    """Only a reviewer assigned to the article, who did not write it, can give a verdict on its sources."""
    return not _writes(user, article) and _reviews(user, article)


@rule("source.flag")
def _flag_source(user, article) -> bool:
    """Only an editor or a reviewer assigned to the article, who did not write it, can flag a live source as outdated."""  # noqa: E501
    return not _writes(user, article) and (_role(user, "editor") or _reviews(user, article))


@rule("article.publish")
def _publish(user, article) -> bool:
    """Only an editor who neither wrote nor reviews the article can publish it (four eyes: never one of its signers)."""
    return (_role(user, "editor") and not _writes(user, article) and active_assignment(user, article) is None
            and not _approved_current(user, article))


def _approved_current(user, article) -> bool:
    """Whether ``user`` signed an approval of the article's current revision (even if since withdrawn)."""
    if not user.has_role("reviewer"):
        return False  # only reviewers sign: no query for the usual editor
    return db.session.scalar(select(Decision.id).where(
        Decision.article_id == article.id, Decision.reviewer_id == user.id, Decision.decision == "approve",
        Decision.revision_number == article.current_revision).limit(1)) is not None


@rule("article.unpublish")
def _unpublish(user, article) -> bool:
    """Only editors can unpublish an article."""
    return _role(user, "editor")


@rule("article.schedule_rereview")
def _schedule(user, article) -> bool:
    """Only editors can set an article's re-review interval."""
    return _role(user, "editor")


@rule("audit.view_article")
def _audit_article(user, article) -> bool:
    """Only the article's writer, its assigned reviewers, editors and admins can read its audit trail."""
    return _staff(user, article)


@rule("audit.view_all")
def _audit_all(user, obj=None) -> bool:
    """Only editors and admins can read the global audit log."""
    return _role(user, "editor") or _role(user, "admin")


@rule("overview.view")
def _overview(user, obj=None) -> bool:
    """Only editors and admins see the editorial overview."""
    return _role(user, "editor") or _role(user, "admin")


@rule("audit.verify")
def _audit_verify(user, obj=None) -> bool:
    """Only editors and admins can run a verification of the audit chain from the pages."""
    return _role(user, "editor") or _role(user, "admin")


@rule("admin.manage")
def _admin(user, obj=None) -> bool:
    """Only admins manage accounts, roles and credentials."""
    return _role(user, "admin")


@rule("account.invite")
def _invite(user, obj=None) -> bool:
    """Only admins invite people and manage their invitations."""
    return _role(user, "admin")


@rule("token.revoke")
def _revoke_token(user, token) -> bool:
    """Only the token's holder or an admin can revoke an API token."""
    return _active(user) and token is not None and (token.user_id == user.id or user.has_role("admin"))


@rule("credentials.verify")
def _verify_credentials(user, reviewer=None) -> bool:
    """Only admins verify a reviewer's credentials, and nobody verifies their own."""
    return _role(user, "admin") and getattr(reviewer, "id", None) != user.id


@rule("review.queue")
def _queue(user, obj=None) -> bool:
    """Only reviewers have a review queue."""
    return _role(user, "reviewer")


#: The roles in the order someone is taken to act in them: on an article, editorial work before
#: administration (its writer and its reviewers act as such first); elsewhere, the highest role held.
ARTICLE_ROLES = ("editor", "admin")
ROLES = ("admin", "editor", "reviewer", "writer")


def acting_role(user, article=None) -> str:
    """The role ``user`` acts in, as the audit trail records it ("" when they hold none).

    On an article: "writer" for its writer, "reviewer" for a reviewer with an active assignment on
    it, else "editor" or "admin". Elsewhere (accounts, tokens, signing in): their highest role, from
    admin down to writer. Roles the rules already fix ("editor" publishes) are written where they act.
    """
    if article is not None:
        if getattr(user, "id", None) == article.writer_id:
            return "writer"
        if active_assignment(user, article) is not None:
            return "reviewer"
    return next((role for role in (ROLES if article is None else ARTICLE_ROLES) if user.has_role(role)), "")


def can(user, action: str, obj=None) -> bool:
    """True when ``user`` may do ``action`` on ``obj``. Unknown actions are refused."""
    fn = RULES.get(action)
    return bool(fn and fn(user, obj))


def explain(action: str) -> str:
    fn = RULES.get(action)
    return (fn.__doc__ or "You are not allowed to do this.").strip() if fn else "You are not allowed to do this."


def authorize(user, action: str, article, obj=None) -> None:
    """Refuse in the order of PRODUCT.md: NotFound (404) when ``user`` cannot see ``article``, then
    Forbidden (403) unless the rule ``action`` allows them ``obj`` (default: the article)."""
    if not can(user, "article.view", article):
        raise NotFound("There is no article with that id.")
    require(user, action, article if obj is None else obj)


def require(user, action: str, obj=None) -> None:
    """Raise ``Forbidden`` with the rule in plain words unless ``user`` may do ``action``."""
    if not can(user, action, obj):
        raise Forbidden(explain(action))
