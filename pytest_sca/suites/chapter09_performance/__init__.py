"""Checks of performance (chapter 09)."""
