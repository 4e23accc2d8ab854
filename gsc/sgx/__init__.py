"""gsc.sgx"""
