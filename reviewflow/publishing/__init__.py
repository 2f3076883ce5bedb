"""Published versions, the public site and periodic re-review."""
