"""Tests of reviewflowapi."""
