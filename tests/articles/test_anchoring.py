"""Re-anchoring open annotations when a new revision is saved.

A quote that still occurs moves with the text (new position, new prefix and suffix); one that
no longer occurs is marked orphaned and kept, and if blocking it still blocks approval until
it is resolved. Among several occurrences, the stored prefix and suffix pick the right one.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from reviewflow.articles import services as articles
from reviewflow.articles.anchoring import context_of, locate
from reviewflow.audit.models import AuditEvent
from reviewflow.errors import Conflict, Forbidden, InvalidInput
from reviewflow.reviews import services as reviews
from reviewflow.reviews.models import Annotation
from tests.factories import BODY, CHECKLIST, PASSWORD, make_article

QUOTE = "Moisturize within three minutes of bathing."


@pytest.fixture
def reviewed(db, cast):
    """An article in review by ``rev``, with one blocking annotation on QUOTE."""
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"])
    ann = reviews.add_annotation(cast["rev"], article, 1, QUOTE, "Cite the guideline.", blocking=True)
    db.session.commit()
    return article, ann


def _save(db, cast, article, body: str):
    rev = articles.save_revision(cast["writer"], article, article.title, body, article.current_revision, "Edit")
    db.session.commit()
    return rev


def _last_revision_event(db, article) -> dict:
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.article_id == article.id,
                                                        AuditEvent.action == "revision.saved")
                               .order_by(AuditEvent.seq.desc())).first()
    return json.loads(event.details)


def test_annotation_stores_quote_prefix_suffix_and_position(reviewed):
    _, ann = reviewed
    start = BODY.index(QUOTE)
    assert ann.position == start
    assert ann.prefix == BODY[max(0, start - 32):start]
    assert ann.suffix == BODY[start + len(QUOTE):start + len(QUOTE) + 32]
    assert ann.revision_number == ann.anchored_revision == 1 and not ann.orphaned


def test_quote_not_in_the_revision_is_refused(db, cast, reviewed):
    article, _ = reviewed
    with pytest.raises(InvalidInput):
        reviews.add_annotation(cast["rev"], article, 1, "This sentence is not there.", "?")


def test_moved_quote_is_reanchored_with_its_new_position(db, cast, reviewed):
    article, ann = reviewed
    inserted = "A new opening paragraph about winter skin care.\n\n"
    body = BODY.replace("Cold air", inserted + "Cold air", 1)
    rev = _save(db, cast, article, body)
    db.session.refresh(ann)
    assert ann.anchored_revision == rev.number == 2
    assert ann.position == body.index(QUOTE) == BODY.index(QUOTE) + len(inserted)
    assert body[ann.position:ann.position + len(QUOTE)] == QUOTE
    assert (ann.prefix, ann.suffix) == context_of(body, ann.position, QUOTE)
    assert not ann.orphaned and ann.status == "open"
    assert ann.revision_number == 1  # where it was made does not change
    details = _last_revision_event(db, article)
    assert details["annotations_reanchored"] == [ann.id] and details["annotations_orphaned"] == []


def test_edited_quote_is_orphaned_and_still_blocks_approval(db, cast, reviewed):
    article, ann = reviewed
    body = BODY.replace(QUOTE, "Moisturize within five minutes after a shower.")
    _save(db, cast, article, body)
    db.session.refresh(ann)
    assert ann.orphaned and ann.status == "open"
    assert ann.anchored_revision == 1 and ann.quote == QUOTE  # the original quote is kept
    assert _last_revision_event(db, article)["annotations_orphaned"] == [ann.id]

    with pytest.raises(Conflict, match="blocking"):
        reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.rollback()
    assert article.state == "in_review"

    # Only its author, an assigned reviewer, resolves a blocking annotation; the writer answers it.
    with pytest.raises(Forbidden):
        reviews.set_annotation_status(cast["writer"], ann, "resolved")
    db.session.rollback()
    assert db.session.get(Annotation, ann.id).status == "open"
    reviews.set_annotation_status(cast["rev"], ann, "resolved")
    db.session.commit()
    reviews.sign_decision(cast["rev"], article, 2, "approve", PASSWORD, checklist=CHECKLIST)
    db.session.commit()
    assert article.state == "approved"


def test_deleted_quote_is_orphaned_never_dropped(db, cast, reviewed, api):
    article, ann = reviewed
    _save(db, cast, article, BODY.replace(QUOTE, ""))
    db.session.refresh(ann)
    assert ann.orphaned and ann.status == "open"
    assert ann in reviews.annotations_of(article)
    listed = api(cast["writer"], "GET", f"/articles/{article.id}/annotations").get_json()
    assert [(a["id"], a["orphaned"], a["quote"]) for a in listed] == [(ann.id, True, QUOTE)]
    # Saving again does not report it as newly orphaned, and it stays.
    _save(db, cast, article, BODY.replace(QUOTE, "") + "\nOne more line.\n")
    assert _last_revision_event(db, article)["annotations_orphaned"] == []
    assert db.session.get(Annotation, ann.id).orphaned


def test_orphan_whose_quote_returns_is_reanchored(db, cast, reviewed):
    article, ann = reviewed
    _save(db, cast, article, BODY.replace(QUOTE, ""))
    _save(db, cast, article, BODY)
    db.session.refresh(ann)
    assert not ann.orphaned and ann.anchored_revision == 3 and ann.position == BODY.index(QUOTE)


def test_resolved_annotations_are_not_reanchored(db, cast, reviewed):
    article, ann = reviewed
    reviews.set_annotation_status(cast["rev"], ann, "resolved")
    db.session.commit()
    _save(db, cast, article, BODY.replace(QUOTE, ""))
    db.session.refresh(ann)
    assert ann.anchored_revision == 1 and not ann.orphaned


DUPLICATED = """# Hydration

Before exercise: Drink water. Then stretch for five minutes.

After exercise: Drink water. Then rest and eat something salty.
"""


def test_duplicate_quote_is_told_apart_by_prefix_and_suffix(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"],
                           body=DUPLICATED, title="Hydration")
    second = DUPLICATED.index("Drink water.", DUPLICATED.index("Drink water.") + 1)
    ann = reviews.add_annotation(cast["rev"], article, 1, "Drink water.", "How much?",
                                 prefix="After exercise: ", suffix=" Then rest")
    db.session.commit()
    assert ann.position == second

    new_body = "Summer edition.\n\n" + DUPLICATED.replace("Before exercise: Drink water.",
                                                          "Before any exercise: Drink water.")
    _save(db, cast, article, new_body)
    db.session.refresh(ann)
    expected = new_body.index("After exercise: Drink water.") + len("After exercise: ")
    assert ann.position == expected and not ann.orphaned


def test_duplicate_quote_follows_its_context_when_the_order_changes(db, cast):
    article = make_article(cast["writer"], "in_review", reviewer=cast["rev"], editor=cast["editor"],
                           body=DUPLICATED, title="Hydration")
    ann = reviews.add_annotation(cast["rev"], article, 1, "Drink water.", "How much?",
                                 prefix="Before exercise: ", suffix=" Then stretch")
    db.session.commit()
    swapped = ("# Hydration\n\nAfter exercise: Drink water. Then rest and eat something salty.\n\n"
               "Before exercise: Drink water. Then stretch for five minutes.\n")
    _save(db, cast, article, swapped)
    db.session.refresh(ann)
    assert ann.position == swapped.index("Before exercise: Drink water.") + len("Before exercise: ")


@pytest.mark.parametrize("text, quote, prefix, suffix, position, expected", [
    ("abc abc abc", "abc", "", "", None, 0),
    ("abc abc abc", "abc", "abc ", " abc", None, 4),
    ("x abc y abc z", "abc", "y ", " z", None, 8),
    ("abc abc abc", "abc", "", "", 7, 8),
    ("nothing here", "abc", "", "", None, None),
    ("anything", "", "", "", None, None),
])
def test_locate(text, quote, prefix, suffix, position, expected):
    assert locate(text, quote, prefix, suffix, position) == expected
