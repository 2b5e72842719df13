"""Tests of components/cluster."""
