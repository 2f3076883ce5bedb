"""Medical review: reviewer assignments, anchored annotations and signed decisions."""
