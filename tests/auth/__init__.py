"""Tests of reviewflowauth."""
