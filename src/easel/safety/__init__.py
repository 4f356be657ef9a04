"""Prompt filtering (and, later, output classification)."""
