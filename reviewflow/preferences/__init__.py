"""A person's own preferences: the time zone their pages show times in, and how notifications reach them by e-mail."""
