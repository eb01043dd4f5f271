"""Presentation: tables and summary rows for the faces."""
