"""Checks of development (chapter 07)."""
