"""gsc.image"""
