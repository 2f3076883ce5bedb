"""The append-only, keyed, hash-chained audit trail; a leaf every domain may call."""
