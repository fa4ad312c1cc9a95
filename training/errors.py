"""Errors of the training package. Each says what is wrong and what to do about it."""

from __future__ import annotations

from postroom.errors import PostroomError


class TrainingError(PostroomError):
    """Training cannot start or did not produce a usable model."""

    status_code = 422


class EmptyTrainingSet(TrainingError):
    """No labeled messages for a label set (or none at all)."""


class NotEnoughExamples(TrainingError):
    """A class has fewer labeled examples than the configured minimum."""

    def __init__(
        self, label_set: str, class_name: str, have: int, need: int, detail: str = "", also: str = ""
    ) -> None:
        self.label_set = label_set
        self.class_name = class_name
        self.have = have
        self.need = need
        extra = f" ({detail})" if detail else ""
        more, which = (f"; {also}", "these classes") if also else ("", "this class")
        super().__init__(
            f"label set {label_set!r}, class {class_name!r}: {have} labeled examples for training{extra}, "
            f"need at least {need}{more}; label more messages of {which} or lower min_examples_per_class"
        )


class UnknownLabel(TrainingError):
    """The store holds a current label whose label set or class is not in the taxonomy."""


class TrainingDiverged(TrainingError):
    """The loss or the embeddings became NaN or infinite during training."""


class RegistryError(PostroomError):
    """The model registry or one of its versions is missing, corrupt, or refuses a stage change."""

    status_code = 409


class VersionNotFound(RegistryError):
    status_code = 404
