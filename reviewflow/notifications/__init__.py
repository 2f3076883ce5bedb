"""In-app notifications and the e-mail outbox; a leaf every domain may call."""
