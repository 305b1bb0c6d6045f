"""Checks of application (chapter 08)."""
