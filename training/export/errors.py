"""Errors of the export: each says what is wrong and what to do."""

from __future__ import annotations

from postroom.errors import PostroomError


class ExportError(PostroomError):
    """A model cannot be exported (unsupported body, inconsistent head, no texts for the parity gate)."""

    status_code = 422


class NothingPublished(ExportError):
    """Every variant failed the parity gate; the report says why for each."""
