"""Errors of the labeling loop. Each says what is wrong and what to do; the CLI prints it as one line."""

from __future__ import annotations

from postroom.errors import PostroomError


class LabelingError(PostroomError):
    """Base of the labeling errors."""

    status_code = 400


class DoccanoError(LabelingError):
    """Doccano answered, but not as expected (a 4xx other than auth, or a body we cannot read)."""

    status_code = 502


class DoccanoUnavailable(DoccanoError):
    """Doccano cannot be reached, or answers with a server error."""

    status_code = 503


class DoccanoAuthError(DoccanoError):
    """Doccano refused the credentials or the token (check POSTROOM_DOCCANO_USER / _PASSWORD)."""

    status_code = 502


class DoccanoTimeout(DoccanoError):
    """A request, an import or an export took longer than its time limit."""

    status_code = 504


class UploadFailed(DoccanoError):
    """Doccano did not import an uploaded file (it says so only in the import task's result)."""


class UploadPending(DoccanoError):
    """An earlier import of these messages is still queued on Doccano's task worker: sending them again
    would put them in the project twice."""

    status_code = 503


class ProjectNotFound(LabelingError):
    """The Doccano project for this taxonomy does not exist yet (run `postroom label push` first)."""

    status_code = 404


class ProjectReplaced(LabelingError):
    """Doccano's project under Postroom's project name and id is not the one Postroom pushed to: Doccano's
    data was wiped or replaced and a new project got the same id."""

    status_code = 409
