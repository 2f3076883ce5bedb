"""A person's own preferences: the time zone their pages show times in."""
