"""Router: per-class thresholds, routing decisions, auto-reply templates and feedback monitoring.

Imports only the core.
"""
