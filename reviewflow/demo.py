"""``seed-demo``: original demo people and articles in every state, created through the services.

Idempotent: people and articles that exist (by email, by title) are left alone.
"""
from __future__ import annotations

from sqlalchemy import select

from reviewflow.auth import services as accounts
from reviewflow.auth.models import User
from reviewflow.demo_content import PEOPLE
from reviewflow.extensions import db

PROFILE_KEYS = ("credentials", "specialty", "license_number", "license_jurisdiction", "license_expires",
                "affiliation", "organization")


def seed_people() -> int:
    created = 0
    for p in PEOPLE:
        if db.session.scalar(select(User).where(User.email == p["email"])):
            continue
        profile = {k: p[k] for k in PROFILE_KEYS if k in p} | {"bio": p.get("bio", "")} \
            if "reviewer" in p["roles"] else None
        accounts.create_user(None, p["email"], p["name"], p["password"], p["roles"], bio=p.get("bio", ""),
                             profile=profile)
        created += 1
    db.session.commit()
    return created


def seed() -> int:
    return seed_people()
