"""Errors of the router package."""

from postroom.errors import PostroomError


class ThresholdError(PostroomError):
    """A threshold change is invalid (unknown class, value out of range, nothing to roll back to)."""

    status_code = 422


class ThresholdsChanged(ThresholdError):
    """The active thresholds changed since the caller read them (another lead, or the feedback monitor)."""

    status_code = 409


class NoThresholdChange(ThresholdError):
    """The values equal the active version's, calibrated for the same model: nothing to store."""


class ThresholdVersionNotFound(PostroomError):
    """No threshold version with that number."""

    status_code = 404


class ZeroReplyThreshold(ThresholdError):
    """0 on an automated-reply class (answer every prediction of it, however unsure) without confirmation."""


class DamagedThresholdVersion(ThresholdError):
    """A stored thresholds version cannot be read (its row was changed outside Postroom): what it decides is
    unknown, so nothing that needs it proceeds. Nothing stored is changed."""

    status_code = 503
