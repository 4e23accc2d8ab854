"""gsc: shield an existing Docker image for confidential computing."""

__version__ = "0.1.0"
