"""gsc.build"""
