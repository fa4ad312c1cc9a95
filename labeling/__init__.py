"""Labeling: the Doccano REST client (httpx), push/pull/validate, and what to label next.

Imports only the core.
"""
