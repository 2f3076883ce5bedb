"""Every authorization rule against an expected table: role × relationship to the article × action.

One world is built per module (people, two articles in review, an annotation on each) and
``policy.can`` is asked every question. The table below is written out by hand from
PRODUCT.md, not derived from ``policy.py``, so a changed rule shows up as a failing row.
"""
from __future__ import annotations

import os

import pytest
from flask_login import AnonymousUserMixin

from reviewflow import policy
from reviewflow.auth import services as accounts
from reviewflow.extensions import db
from reviewflow.reviews import services as reviews
from tests.factories import empty_schema, make_app, make_article, make_user

#: The columns of the table: a rule, asked of the article, or of the persona's blocking annotation
#: ("annotation.resolve[blocking]") or suggestion ("annotation.resolve[suggestion]").
ACTIONS = ["article.view", "article.edit", "article.submit", "review.assign", "article.decide", "annotation.create",
           "annotation.resolve[blocking]", "annotation.resolve[suggestion]", "article.publish", "article.unpublish",
           "audit.view_all", "admin.manage", "account.invite"]

#: persona -> one letter per action, in ACTIONS order: Y allowed, "." refused. Columns: view, edit, submit,
#: assign, decide, annotate, resolve a blocking annotation, resolve a suggestion, publish, unpublish,
#: audit (all), admin, invite. A blocking annotation is its assigned author's to resolve (another assigned
#: reviewer's once the author is withdrawn), never the writer's; the writer may resolve suggestions. Four eyes: an
#: editor assigned to review the article does not publish it.
EXPECTED = {
    "writer of the article":                  "YYY....Y.....",
    "another writer":                         ".............",
    "assigned reviewer who annotated":        "Y...YYYY.....",
    "assigned reviewer, not the annotator":   "Y...YY.......",
    "assigned reviewer, annotator withdrawn": "Y...YYYY.....",
    "withdrawn reviewer who annotated":       ".............",
    "unassigned reviewer":                    ".............",
    "editor":                                 "Y..Y....YYY..",
    "editor who wrote the article":           "YYYY...Y.YY..",
    "editor assigned to review the article":  "Y..YYY...YY..",
    "admin":                                  "Y.........YYY",
    "writer-reviewer assigned elsewhere":     ".............",
    "inactive writer of the article":         ".............",
    "inactive assigned reviewer":             ".............",
    "inactive editor":                        ".............",
    "inactive admin":                         ".............",
    "anonymous visitor":                      ".............",
}


def _fresh_app(tmp_dir):
    return make_app(os.environ.get("REVIEWFLOW_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'policy.db'}")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app = _fresh_app(tmp_path_factory.mktemp("policy"))
    with app.app_context():
        empty_schema()
        writer, writer2 = make_user("writer"), make_user("writer")
        editor, admin = make_user("editor"), make_user("admin")
        writer_editor = make_user("writer", "editor")
        writer_reviewer = make_user("writer", "reviewer")
        editor_reviewer = make_user("editor", "reviewer")
        rev, rev2, rev3, rev4, rev5, loner = (make_user("reviewer") for _ in range(6))
        gone_writer, gone_editor, gone_admin = make_user("writer"), make_user("editor"), make_user("admin")

        article = make_article(writer, "in_review", reviewer=rev, editor=editor, title="Main article")
        for person in (rev2, rev3, editor_reviewer):
            reviews.assign_reviewer(editor, article, person.id)
        note = reviews.add_annotation(rev, article, 1, "Cold air", "Cite a source.", blocking=True)
        tip = reviews.add_annotation(rev, article, 1, "Short lukewarm showers", "Say how short.", blocking=False)
        own = make_article(writer_editor, "in_review", reviewer=rev, editor=editor, title="Editor's own article")
        own_note = reviews.add_annotation(rev, own, 1, "Cold air", "Cite a source.", blocking=True)
        own_tip = reviews.add_annotation(rev, own, 1, "Short lukewarm showers", "Say how short.", blocking=False)
        # An article whose annotating reviewer was withdrawn and another reviewer took over.
        handed = make_article(writer, "in_review", reviewer=rev4, editor=editor, title="Handed over")
        reviews.assign_reviewer(editor, handed, rev5.id)
        handed_note = reviews.add_annotation(rev4, handed, 1, "Cold air", "Cite a source.", blocking=True)
        handed_tip = reviews.add_annotation(rev4, handed, 1, "Short lukewarm showers", "Say how short.")
        reviews.withdraw_assignment(editor, handed, policy.active_assignment(rev4, handed))
        other = make_article(writer2, "in_review", reviewer=writer_reviewer, editor=editor, title="Elsewhere")
        abandoned = make_article(gone_writer, "draft", title="Abandoned draft")
        db.session.commit()
        for person in (gone_writer, rev3, gone_editor, gone_admin):
            accounts.update_user(admin, person, active=False)
        db.session.commit()
        assert other.id

        main = (article, note, tip)
        yield {
            "writer of the article": (writer, *main),
            "another writer": (writer2, *main),
            "assigned reviewer who annotated": (rev, *main),
            "assigned reviewer, not the annotator": (rev2, *main),
            "assigned reviewer, annotator withdrawn": (rev5, handed, handed_note, handed_tip),
            "withdrawn reviewer who annotated": (rev4, handed, handed_note, handed_tip),
            "unassigned reviewer": (loner, *main),
            "editor": (editor, *main),
            "editor who wrote the article": (writer_editor, own, own_note, own_tip),
            "editor assigned to review the article": (editor_reviewer, *main),
            "admin": (admin, *main),
            "writer-reviewer assigned elsewhere": (writer_reviewer, *main),
            "inactive writer of the article": (gone_writer, abandoned, note, tip),
            "inactive assigned reviewer": (rev3, *main),
            "inactive editor": (gone_editor, *main),
            "inactive admin": (gone_admin, *main),
            "anonymous visitor": (AnonymousUserMixin(), *main),
        }
        db.session.remove()
        db.engine.dispose()


CASES = [(persona, action, row[i] == "Y") for persona, row in EXPECTED.items() for i, action in enumerate(ACTIONS)]


# The rules are asked directly of people loaded one by one, not through a page: their roles load
# lazily, once each, which is what the N+1 guard would otherwise refuse.
@pytest.mark.allow_lazy_load
@pytest.mark.parametrize("persona, action, allowed", CASES, ids=[f"{p}|{a}" for p, a, _ in CASES])
def test_policy_table(world, persona, action, allowed):
    user, article, blocking, suggestion = world[persona]
    rule, _, kind = action.partition("[")
    obj = {"blocking]": blocking, "suggestion]": suggestion}.get(kind, article)
    assert policy.can(user, rule, obj) is allowed


def test_every_rule_of_the_table_exists():
    assert {action.partition("[")[0] for action in ACTIONS} <= set(policy.RULES)


def test_every_rule_states_itself_in_words():
    """403 pages show the rule's docstring, so none may be missing."""
    for name, fn in policy.RULES.items():
        assert (fn.__doc__ or "").strip(), name
        assert policy.explain(name) == fn.__doc__.strip()


#: persona -> the role they act in on their article (``policy.acting_role``), and elsewhere.
ACTING = {
    "writer of the article": ("writer", "writer"),
    "assigned reviewer who annotated": ("reviewer", "reviewer"),
    "withdrawn reviewer who annotated": ("", "reviewer"),
    "editor": ("editor", "editor"),
    "editor who wrote the article": ("writer", "editor"),
    "editor assigned to review the article": ("reviewer", "editor"),
    "admin": ("admin", "admin"),
    "writer-reviewer assigned elsewhere": ("", "reviewer"),
}


@pytest.mark.allow_lazy_load
@pytest.mark.parametrize("persona", ACTING)
def test_acting_role(world, persona):
    """The role an event records: on the article, writer, then assigned reviewer, then editor or admin;
    elsewhere, the highest role held."""
    user, article, *_ = world[persona]
    assert (policy.acting_role(user, article), policy.acting_role(user)) == ACTING[persona]


def test_unknown_action_is_refused(world):
    user, article, *_ = world["admin"]
    assert policy.can(user, "article.teleport", article) is False


def test_require_raises_forbidden_with_the_rule(world):
    from reviewflow.errors import Forbidden

    user, article, *_ = world["another writer"]
    with pytest.raises(Forbidden) as refused:
        policy.require(user, "article.edit", article)
    assert refused.value.status == 403
    assert refused.value.message == policy.explain("article.edit")


@pytest.mark.allow_lazy_load
def test_withdrawn_reviewer_loses_access(world):
    user, article, *_ = world["assigned reviewer, not the annotator"]
    editor = world["editor"][0]
    assignment = policy.active_assignment(user, article)
    reviews.withdraw_assignment(editor, article, assignment)
    db.session.flush()
    try:
        assert not policy.can(user, "article.view", article)
        assert not policy.can(user, "article.decide", article)
        assert not policy.can(user, "annotation.create", article)
    finally:
        db.session.rollback()
    assert policy.can(user, "article.view", article)
