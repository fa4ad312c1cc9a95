"""docs/serving.md's table of error names: each names an error the service can answer with that status."""

from __future__ import annotations

import re

from postroom.errors import PostroomError
from postroom.taxonomy import TaxonomyError  # noqa: F401 - registers the subclass
from router import errors as router_errors  # noqa: F401
from router import feedback  # noqa: F401
from serving import errors as serving_errors
from tests.conftest import REPO_ROOT
from training import errors as training_errors  # noqa: F401


def _subclasses(base: type) -> dict[str, type]:
    found: dict[str, type] = {}
    for cls in base.__subclasses__():
        found[cls.__name__] = cls
        found.update(_subclasses(cls))
    return found


def test_every_error_name_in_the_table_is_answered_with_its_status() -> None:
    text = (REPO_ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    table = text.split("### Error names", 1)[1].split("###", 1)[0]
    domain = _subclasses(PostroomError)
    http = {name: code for code, name in serving_errors.HTTP_NAMES.items()}
    checked = 0
    for row in re.findall(r"^\| ([\d, ]+) \| (.+?) \|", table, re.M):
        statuses = {int(code) for code in row[0].split(",")}
        for name in re.findall(r"`([A-Z]\w+)`", row[1]):  # the names, not `base_version`
            if name in domain:
                assert domain[name].status_code in statuses, (name, domain[name].status_code, statuses)
            else:
                assert http.get(name) in statuses, f"{name} is neither an error class nor an HTTP name"
            checked += 1
    assert checked >= 20
