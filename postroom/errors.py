"""The base of every domain error. Each package defines its own errors under it.

The CLI turns a `PostroomError` into one line and exit code 1; the service into a JSON body with
`status_code` (see `serving/errors.py`).
"""


class PostroomError(Exception):
    """A failure the user can act on; its message says what is wrong and what to do."""

    status_code: int = 400


class ConfigError(PostroomError):
    """Settings or a configuration file are invalid."""

    status_code = 500


def shown(value: str, limit: int = 80) -> str:
    """`value` as an error message quotes it (`repr`), cut to `limit` characters: a message never echoes a
    client's megabyte back."""
    return repr(value if len(value) <= limit else value[: limit - 1] + "\u2026")
