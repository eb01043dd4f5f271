"""Rendering: notes, files and performances into audio with an instrument."""
