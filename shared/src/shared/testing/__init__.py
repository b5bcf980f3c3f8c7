"""Test helpers shared by every service (pytest plugin in shared.testing.plugin)."""
