"""Tests of reviewflow."""
