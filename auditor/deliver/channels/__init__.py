"""Delivery channels, one module each; every module here is imported by ``registry.channels()``."""
