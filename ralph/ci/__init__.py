"""Workflows that run a plan's steps on CI machines (`ralph ci github`)."""
