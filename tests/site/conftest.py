"""Fixtures of the site tests: the publishing tests' ``published`` article pair."""
from __future__ import annotations

from tests.publishing.conftest import published  # noqa: F401  (a fixture, used by name)
