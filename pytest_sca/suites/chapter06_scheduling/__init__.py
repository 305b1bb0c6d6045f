"""Checks of scheduling (chapter 06)."""
