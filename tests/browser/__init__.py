"""Tests of reviewflowbrowser."""
