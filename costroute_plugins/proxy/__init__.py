"""Thin adapters between LiteLLM's proxy and costroute's parts.

This package is the only code that imports LiteLLM: a LiteLLM upgrade touches it and nothing else. Register
the instances in ``plugins.py`` from a proxy config (see the README).
"""
