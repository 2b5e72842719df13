"""Tests of components/storage."""
