"""Tests of notifications and the e-mail outbox."""
