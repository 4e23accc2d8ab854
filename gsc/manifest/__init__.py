"""gsc.manifest"""
