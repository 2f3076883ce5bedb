"""Tests of reviewflowaudit."""
