"""gsc.analysis"""
