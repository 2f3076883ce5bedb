"""Appending to the audit chain and verifying it.

The chain: each event's ``hash`` is HMAC-SHA256 over the previous event's hash and a
canonical encoding of the event (``encode``), keyed with ``REVIEWFLOW_AUDIT_KEY``. The
key never enters the database, so someone with database access alone cannot recompute
a valid chain after editing an event. Earlier keys stay listed in
``REVIEWFLOW_AUDIT_OLD_KEYS`` after a rotation; each event names the key it was signed
with (``key_id``), so old events keep verifying.

The chain head is keyed too (``head_mac``), so events cut off the end cannot be hidden by
rewriting the head; a checkpoint kept outside the database (``checkpoint``) also catches a
rollback to an earlier, consistent state. Verification then compares the tables the pages
read (decisions, published versions and their bylines) with the signed events behind them.
"""
from __future__ import annotations

# The audit package's one door: appending (``chain``) and verifying (``verification``).
from reviewflow.audit.chain import *  # noqa: F403
from reviewflow.audit.chain import _scrub, utcnow  # noqa: F401
from reviewflow.audit.records import _records_problem  # noqa: F401
from reviewflow.audit.verification import *  # noqa: F403
from reviewflow.audit.verification import (  # noqa: F401
    _chain_rows,
    _check_span,
    _hmac_pads,
)
