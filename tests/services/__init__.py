"""Tests of components/services."""
