"""Audit mode: read the runtime's policy log and suggest a build config (docs/audit.md)."""
