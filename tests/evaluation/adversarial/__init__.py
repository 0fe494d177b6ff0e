"""Builders of hostile or broken checkpoints for the admission tests."""
