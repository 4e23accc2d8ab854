"""Jinja templates and defaults shipped with gsc (installed as gsc.templates)."""
