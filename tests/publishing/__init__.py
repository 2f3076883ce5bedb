"""Tests of reviewflowpublishing."""
