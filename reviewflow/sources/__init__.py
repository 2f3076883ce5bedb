"""Sources: the footnotes a revision cites, and the verdicts reviewers give on each (PRODUCT.md)."""
