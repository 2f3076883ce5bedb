"""Tests of reviewflowreviews."""
