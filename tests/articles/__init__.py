"""Tests of reviewflowarticles."""
