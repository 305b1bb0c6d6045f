"""Checks of security (chapter 10)."""
