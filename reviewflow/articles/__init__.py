"""Articles, their immutable revisions and the lifecycle state machine."""
