"""Tests of components/hub."""
