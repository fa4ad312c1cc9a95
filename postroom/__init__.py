"""Postroom core: settings, message store, taxonomy, cleaning and the CLI entry point.

Components (`labeling`, `training`, `router`, `serving`) import this package; it imports none of them.
"""

__version__ = "0.1.0"
