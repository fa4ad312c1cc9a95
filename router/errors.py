"""Errors of the router package."""

from postroom.errors import PostroomError


class ThresholdError(PostroomError):
    """A threshold change is invalid (unknown class, value out of range, nothing to roll back to)."""

    status_code = 422


class ThresholdsChanged(ThresholdError):
    """The active thresholds changed since the caller read them (another lead, or the feedback monitor)."""

    status_code = 409


class ThresholdVersionNotFound(PostroomError):
    """No threshold version with that number."""

    status_code = 404
