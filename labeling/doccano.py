"""A small client of Doccano 1.8.4's REST API (`/v1/...`), with httpx and token authentication.

Why not `doccano-client`: it pins pydantic 1 and urllib3 1, which break FastAPI in the same environment.

Doccano behaviours this client handles (measured against 1.8.4):
- `/v1/auth/login/` returns a token *and* sets a session cookie; with that cookie every later POST fails with
  a CSRF 403. The login runs on a throwaway connection, and the API client drops any cookie it is sent.
- File uploads (`/v1/fp/process/`) answer 406 unless the request says `Accept: */*`.
- Imports and exports run on Doccano's task worker. A failed import does not fail any request: the errors
  are in the import task's result, so `upload_examples` reads it and raises `UploadFailed`.
- With the worker down, a task never finishes: every wait has a time limit and says what to check.
- An import file's rows must all have the same keys (otherwise the import fails on a JSON check of `meta`).
- The export has one file per project *member*: a user removed from the project drops out of it, although
  their labels stay in the database (and return when the user is added again).
- Comments: `POST .../comments?example=<id>` (the example comes from the query string); the list has every
  user's; a user deletes their own (a superuser any).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from labeling.errors import (
    DoccanoAuthError,
    DoccanoError,
    DoccanoTimeout,
    DoccanoUnavailable,
    UploadFailed,
)

if TYPE_CHECKING:
    from postroom.settings import Settings

PROJECT_TYPE = "DocumentClassification"
PROJECT_RESOURCE = "TextClassificationProject"
ANNOTATOR_ROLE = "annotator"
PROJECT_ADMIN_ROLE = "project_admin"  # Doccano's import (push) and export (pull) need it, or a superuser
PAGE_SIZE = 500
LOCAL_HOSTS = ("127.0.0.1", "localhost")
HEALTHY = ("OK", "working")  # a passing check in /v1/health/'s answer (1.8.4's django-health-check: OK)
LOCAL_PORT = 8800  # where `make doccano` (scripts/doccano/start.sh) starts one, the default URL's port
WORKER_HINT = (
    "is Doccano's task worker running? (`scripts/doccano/start.sh` starts it; see <data dir>/logs/worker.log)"
)


class _Answer(dict[str, Any]):
    """A JSON object of Doccano's: reading a key it lacks is a `DoccanoError` naming the key and the request
    (a server that is not Doccano 1.8.4, or a changed API), not a KeyError with a traceback."""

    def __init__(self, pairs: Mapping[str, Any], where: str) -> None:
        super().__init__(pairs)
        self.where = where

    def __missing__(self, key: str) -> Any:
        raise DoccanoError(
            f"Doccano's answer to {self.where} has no {key!r}: is this Doccano 1.8.4? (its keys: "
            f"{', '.join(sorted(map(str, self))[:10]) or 'none'})"
        )


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    description: str = ""
    guideline: str = ""
    collaborative_annotation: bool = False
    single_class_classification: bool = False
    project_type: str = ""  # DocumentClassification for ours ("" when Doccano did not say)
    created_at: str = ""  # as Doccano reports it (ISO 8601): with the id, tells a project from its successor


@dataclass(frozen=True)
class LabelType:
    id: int
    text: str
    background_color: str = ""
    text_color: str = ""
    suffix_key: str | None = None  # the label's keyboard shortcut on the annotation page
    prefix_key: str | None = None  # ctrl / shift / ctrl shift; 1.8.4's annotation page ignores it


@dataclass(frozen=True)
class Example:
    id: int
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    is_superuser: bool = False  # may do anything in every project


@dataclass(frozen=True)
class Category:
    id: int
    example: int
    label: int
    user: int


@dataclass(frozen=True)
class Comment:
    """A comment on an example (the annotation page's comment panel shows every member's)."""

    id: int
    example: int
    user: int | None
    username: str
    text: str


def start_hint(base_url: str) -> str:
    """What to try when nothing answers at `base_url`: `make doccano` only where it would start one."""
    parts = urlsplit(base_url)
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS and parts.port == LOCAL_PORT:
        return "is it running? Start a local one with `make doccano`"
    return f"is it running at {base_url}? (check POSTROOM_DOCCANO_URL)"


def unhealthy_message(base_url: str, status: int, body: object) -> str:
    """One line naming the failed health checks of Doccano's `/v1/health/` answer (label -> status)."""
    if not isinstance(body, dict):
        return f"Doccano at {base_url} answered {status} to GET /v1/health/ without a list of checks"
    failed = {str(k): " ".join(str(v).split()) for k, v in body.items() if str(v).strip() not in HEALTHY}
    if not failed:
        return f"Doccano at {base_url} answered {status} to GET /v1/health/ (every check says OK)"
    worker = {k: v for k, v in failed.items() if "celery" in k.lower()}
    others = {k: v for k, v in failed.items() if k not in worker}
    parts = []
    if worker:
        shown = "; ".join(f"{k}: {v[:120]}" for k, v in worker.items())
        parts.append(
            f"Doccano's task worker is not running ({shown}): start it (scripts/doccano/start.sh; see "
            "<data dir>/logs/worker.log) — imports and exports need it"
        )
    if others:
        shown = "; ".join(f"{k}: {v[:120]}" for k, v in others.items())
        parts.append(f"Doccano at {base_url} failed its health check ({shown})")
    return "; and ".join(parts)


def _describe_body(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] + ("…" if len(text) > 300 else "")


class DoccanoClient:
    """One user's session with one Doccano server. Use as a context manager.

    Args:
        base_url: e.g. `http://127.0.0.1:8800`.
        username, password: a Doccano user (Postroom's admin user, or an expert in tests and the demo).
        timeout: seconds for one HTTP request.
        task_timeout: seconds for an import or export to finish on the task worker.
    Raises (every method): DoccanoUnavailable, DoccanoTimeout, DoccanoAuthError, DoccanoError.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float = 30.0,
        task_timeout: float = 180.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self.task_timeout = task_timeout
        self.poll_interval = poll_interval
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )
        self._token: str | None = None

    # -- plumbing -----------------------------------------------------------------------------------

    def __enter__(self) -> DoccanoClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(
        self, client: httpx.Client, method: str, path: str, *, server_errors: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One HTTP request; transport failures and (unless `server_errors`) 5xx become typed errors."""
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise DoccanoTimeout(
                f"Doccano at {self.base_url} did not answer {method} {path} within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise DoccanoUnavailable(
                f"cannot reach Doccano at {self.base_url} ({exc.__class__.__name__}): "
                + start_hint(self.base_url)
            ) from None
        if response.status_code >= 500 and not server_errors:
            raise DoccanoUnavailable(
                f"Doccano at {self.base_url} answered {response.status_code} to {method} {path}"
            )
        return response

    def login(self) -> None:
        """Get an API token. The login's session cookie stays on a throwaway connection."""
        with httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(self.timeout)) as once:
            response = self._send(
                once,
                "POST",
                "/v1/auth/login/",
                json={"username": self.username, "password": self._password},
            )
        if response.is_redirect:  # httpx does not follow: a POST would lose its body on the way
            raise DoccanoError(
                f"{self.base_url} redirects the login ({response.status_code}) to "
                f"{response.headers.get('location', '?')}: set POSTROOM_DOCCANO_URL to where Doccano answers"
            )
        if response.status_code != 200:
            raise DoccanoAuthError(
                f"Doccano at {self.base_url} refused the login of {self.username!r} "
                f"({response.status_code}); check POSTROOM_DOCCANO_USER / POSTROOM_DOCCANO_PASSWORD"
            )
        try:
            self._token = response.json()["key"]
        except (ValueError, KeyError, TypeError):
            raise DoccanoError(f"Doccano's login answer has no token: {_describe_body(response)}") from None

    def request(
        self, method: str, path: str, *, ok: Sequence[int] = (200, 201, 204), **kwargs: Any
    ) -> httpx.Response:
        """One authenticated request; any status not in `ok` becomes a typed error."""
        if self._token is None:
            self.login()
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Token {self._token}"}
        response = self._send(self._http, method, path, headers=headers, **kwargs)
        self._http.cookies.clear()  # a session cookie would turn on Django's CSRF check for POSTs
        if response.status_code in ok:
            return response
        if response.status_code in (401, 403):
            raise DoccanoAuthError(
                f"Doccano refused {method} {path} for {self.username!r} ({response.status_code}): "
                f"{_describe_body(response)}"
            )
        raise DoccanoError(
            f"Doccano answered {response.status_code} to {method} {path}: {_describe_body(response)}"
        )

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The answer's JSON; its objects raise `DoccanoError` naming a key they lack when it is read."""
        response = self.request(method, path, **kwargs)
        if response.status_code == 204:
            return None
        where = f"{method} {path}"
        try:
            return response.json(object_hook=lambda pairs: _Answer(pairs, where))
        except ValueError:
            raise DoccanoError(f"Doccano's answer to {where} is not JSON") from None

    def _paged(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            page = self._json("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "offset": offset})
            if isinstance(page, list):  # an endpoint without pagination
                yield from page
                return
            results = page.get("results", [])
            yield from results
            offset += len(results)
            if not page.get("next") or not results:
                return

    # -- server -------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Doccano's health checks (the task worker included).

        Raises:
            DoccanoUnavailable: a check failed; the message names it (the task worker gets its own advice).
        """
        response = self._send(
            self._http, "GET", "/v1/health/", server_errors=True, headers={"Accept": "application/json"}
        )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise DoccanoUnavailable(unhealthy_message(self.base_url, response.status_code, body))
        return body

    def me(self) -> User:
        data = self._json("GET", "/v1/me")
        return User(data["id"], data["username"], bool(data.get("is_superuser")))

    def my_role(self, project_id: int) -> str | None:
        """The caller's role in the project (`project_admin`, `annotator`, `annotation_approver`); None when
        the caller is no member (Doccano answers 403 then)."""
        path = f"/v1/projects/{project_id}/my-role"
        response = self.request("GET", path, ok=(200, 403, 404))
        if response.status_code != 200:
            return None
        try:
            return str(response.json().get("rolename") or "") or None
        except (ValueError, AttributeError):
            raise DoccanoError(f"Doccano's answer to GET {path} is not a JSON object") from None

    # -- projects and label types --------------------------------------------------------------------

    def find_project(self, name: str) -> Project | None:
        """The project called `name`, or None (Doccano does not enforce unique names; the oldest wins)."""
        matches = [p for p in self._paged("/v1/projects") if p.get("name") == name]
        if not matches:
            return None
        return _project(min(matches, key=lambda p: p["id"]))

    def get_project(self, project_id: int) -> Project:
        return _project(self._json("GET", f"/v1/projects/{project_id}"))

    def create_project(self, name: str, description: str, guideline: str) -> Project:
        """A multi-label text classification project (one example may carry a label of every set)."""
        data = self._json(
            "POST",
            "/v1/projects",
            json={
                "name": name,
                "description": description,
                "guideline": guideline,
                "project_type": PROJECT_TYPE,
                "resourcetype": PROJECT_RESOURCE,
                "single_class_classification": False,
                "collaborative_annotation": False,  # labels stay per annotator: conflicts stay visible
                "random_order": False,
                "allow_member_to_create_label_type": False,
                "tags": [],
            },
        )
        return _project(data)

    def update_project(self, project: Project, **changes: Any) -> Project:
        return _project(
            self._json(
                "PATCH", f"/v1/projects/{project.id}", json={"resourcetype": PROJECT_RESOURCE, **changes}
            )
        )

    def label_types(self, project_id: int) -> list[LabelType]:
        return [_label_type(i) for i in self._json("GET", f"/v1/projects/{project_id}/category-types")]

    def create_label_type(
        self, project_id: int, text: str, background: str, text_color: str, suffix_key: str | None = None
    ) -> LabelType:
        """A label type; `suffix_key` (0-9, a-z, unique in the project) is its keyboard shortcut."""
        data = self._json(
            "POST",
            f"/v1/projects/{project_id}/category-types",
            json={
                "text": text,
                "background_color": background,
                "text_color": text_color,
                "suffix_key": suffix_key,
                "prefix_key": None,
            },
        )
        return _label_type(data)

    def update_label_type(self, project_id: int, label: LabelType, **changes: str | None) -> LabelType:
        """Change some fields (`background_color`, `text_color`, `suffix_key`) of a label type."""
        return _label_type(
            self._json("PATCH", f"/v1/projects/{project_id}/category-types/{label.id}", json=changes)
        )

    # -- users and members ---------------------------------------------------------------------------

    def find_user(self, username: str) -> User | None:
        for item in self._json("GET", "/v1/users", params={"q": username}):
            if item["username"] == username:
                return User(item["id"], item["username"])
        return None

    def create_user(self, username: str, password: str) -> User:
        """A plain (non-staff) Doccano user; needs an admin client."""
        data = self._json(
            "POST",
            "/v1/users/create",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password1": password,
                "password2": password,
            },
        )
        return User(data["id"], data["username"])

    def members(self, project_id: int) -> dict[str, int]:
        """username -> member id."""
        return {m["username"]: m["id"] for m in self._json("GET", f"/v1/projects/{project_id}/members")}

    def add_member(self, project_id: int, user: User, role: str = ANNOTATOR_ROLE) -> None:
        if user.username in self.members(project_id):
            return
        roles = {r["name"]: r["id"] for r in self._json("GET", "/v1/roles")}
        if role not in roles:
            raise DoccanoError(f"Doccano has no role {role!r} (has: {', '.join(roles)})")
        self._json("POST", f"/v1/projects/{project_id}/members", json={"user": user.id, "role": roles[role]})

    def remove_member(self, project_id: int, username: str) -> None:
        """What the Members page's delete does. The user's labels stay in Doccano's database, but the
        export (one file per *member*) no longer has them, and only that user could list them."""
        member = self.members(project_id).get(username)
        if member is not None:
            self.request("DELETE", f"/v1/projects/{project_id}/members", json={"ids": [member]})

    # -- examples and annotations --------------------------------------------------------------------

    def examples(self, project_id: int) -> Iterator[Example]:
        for item in self._paged(f"/v1/projects/{project_id}/examples"):
            yield Example(item["id"], item.get("text") or "", item.get("meta") or {})

    def delete_example(self, project_id: int, example_id: int) -> bool:
        """Delete one example with its labels and comments (a project admin); False when it was gone. One
        at a time on purpose: the list endpoint's DELETE deletes *every* example when its `ids` are empty."""
        response = self.request("DELETE", f"/v1/projects/{project_id}/examples/{example_id}", ok=(204, 404))
        return response.status_code == 204

    def project_exists(self, project_id: int) -> bool:
        return self.request("GET", f"/v1/projects/{project_id}", ok=(200, 404)).status_code == 200

    def categories(self, project_id: int, example_id: int) -> list[Category]:
        """This user's categories on one example (all users' in a collaborative project)."""
        items = self._json("GET", f"/v1/projects/{project_id}/examples/{example_id}/categories")
        return [Category(i["id"], i["example"], i["label"], i["user"]) for i in items]

    def add_category(self, project_id: int, example_id: int, label_id: int) -> Category:
        i = self._json(
            "POST", f"/v1/projects/{project_id}/examples/{example_id}/categories", json={"label": label_id}
        )
        return Category(i["id"], i["example"], i["label"], i["user"])

    def delete_category(self, project_id: int, example_id: int, category_id: int) -> None:
        self.request("DELETE", f"/v1/projects/{project_id}/examples/{example_id}/categories/{category_id}")

    def is_confirmed(self, project_id: int, example_id: int) -> bool:
        """Whether this user marked the example done (the ✓ of Doccano's annotation page)."""
        return bool(self._json("GET", f"/v1/projects/{project_id}/examples/{example_id}").get("is_confirmed"))

    def set_confirmed(self, project_id: int, example_id: int, done: bool = True) -> None:
        """Mark the example done (or not done) as this user; Doccano's API only toggles, so check first."""
        if self.is_confirmed(project_id, example_id) != done:
            self._json("POST", f"/v1/projects/{project_id}/examples/{example_id}/states", json={})

    def comments(self, project_id: int) -> list[Comment]:
        """Every comment on the project's examples, by any user."""
        return [_comment(i) for i in self._paged(f"/v1/projects/{project_id}/comments")]

    def add_comment(self, project_id: int, example_id: int, text: str) -> Comment:
        """A comment on one example, by this user (1.8.4 takes the example from the query string)."""
        path = f"/v1/projects/{project_id}/comments"
        return _comment(self._json("POST", path, params={"example": example_id}, json={"text": text}))

    def delete_comment(self, project_id: int, comment_id: int) -> None:
        """Delete one comment (this user's own; a superuser may delete any)."""
        self.request("DELETE", f"/v1/projects/{project_id}/comments/{comment_id}")

    # -- import and export ---------------------------------------------------------------------------

    def upload_examples(
        self, project_id: int, rows: Sequence[Mapping[str, Any]], name: str = "postroom"
    ) -> None:
        """Import rows (`text`, `label`, and metadata keys) as one JSONL file and wait until it is in.

        Raises:
            UploadFailed: rows with different keys, or Doccano's import task reported errors.
            DoccanoTimeout: the import did not finish (the task worker is down?).
        """
        if rows:
            self.finish_import(self.start_import(project_id, rows, name), len(rows))

    def start_import(self, project_id: int, rows: Sequence[Mapping[str, Any]], name: str = "postroom") -> str:
        """Upload rows as one JSONL file and queue its import on the task worker; the import task's id.

        Raises:
            UploadFailed: no rows, rows with different keys, or the upload was refused.
        """
        if not rows:
            raise UploadFailed("nothing to import: no rows")
        keys = set(rows[0])
        for number, row in enumerate(rows, 1):
            if set(row) != keys:
                raise UploadFailed(
                    f"row {number} has keys {sorted(row)}, the first row {sorted(keys)}: Doccano needs the "
                    "same keys in every row of an import file"
                )
        body = b"".join(json.dumps(dict(row), ensure_ascii=False).encode() + b"\n" for row in rows)
        response = self.request(
            "POST",
            "/v1/fp/process/",
            files={"filepond": (f"{name}.jsonl", body, "application/octet-stream")},
            headers={"Accept": "*/*"},  # anything narrower gets 406
        )
        upload_id = response.text.strip()
        if not upload_id.isalnum() or len(upload_id) > 64:
            raise UploadFailed(
                f"Doccano's file upload answered {_describe_body(response)!r}, not an upload id"
            )
        task = self._json(
            "POST",
            f"/v1/projects/{project_id}/upload",
            json={
                "uploadIds": [upload_id],
                "format": "JSONL",
                "task": PROJECT_TYPE,
                "column_data": "text",
                "column_label": "label",
            },
        )
        return str(task["task_id"])

    def finish_import(self, task_id: str, rows: int, timeout: float | None = None) -> None:
        """Wait for a queued import (`start_import`) to finish.

        Raises:
            UploadFailed: Doccano's import task reported errors.
            DoccanoTimeout: the import did not finish (the task worker is down?).
        """
        result = self.wait_task(task_id, f"the import of {rows} examples", timeout)
        errors = result.get("error") if isinstance(result, dict) else None
        if errors:
            shown = "; ".join(f"line {e.get('line')}: {e.get('message')}" for e in errors[:5])
            raise UploadFailed(f"Doccano did not import all {rows} examples ({len(errors)} errors): {shown}")

    def wait_task(self, task_id: str, what: str, timeout: float | None = None) -> Any:
        """Poll a task until it is done; its result, or a typed error."""
        limit = self.task_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            status = self._json("GET", f"/v1/tasks/status/{task_id}")
            if status.get("ready"):
                if status.get("error"):
                    text = (status["error"] or {}).get("text", "unknown error")
                    raise UploadFailed(f"{what} failed in Doccano: {text}")
                return status.get("result")
            if time.monotonic() >= deadline:
                raise DoccanoTimeout(f"{what} did not finish within {limit:g} s: {WORKER_HINT}")
            time.sleep(self.poll_interval)

    def export_annotations(
        self, project_id: int, *, confirmed_only: bool = False
    ) -> dict[str, list[dict[str, Any]]]:
        """Every example with each member's labels: username -> rows (`id`, `text`, metadata, `label`).

        Doccano exports one file per member for a non-collaborative project; all of it is read before
        anything is returned, so a caller never sees half an export. With `confirmed_only`, each member's
        file holds only the examples that member marked done (the export is the only API that tells an
        admin which examples *another* user marked done: the examples' `is_confirmed` is the caller's own).
        """
        task = self._json(
            "POST",
            f"/v1/projects/{project_id}/download",
            json={"format": "JSONL", "exportApproved": confirmed_only},
        )
        what = "the export of the examples marked done" if confirmed_only else "the export of the annotations"
        self.wait_task(task["task_id"], what)
        response = self.request(
            "GET",
            f"/v1/projects/{project_id}/download",
            params={"taskId": task["task_id"]},
            headers={"Accept": "*/*"},
        )
        try:
            archive = zipfile.ZipFile(io.BytesIO(response.content))
            files = {
                name.rsplit("/", 1)[-1].removesuffix(".jsonl"): archive.read(name).decode("utf-8")
                for name in archive.namelist()
                if name.endswith(".jsonl")
            }
        except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise DoccanoError(f"Doccano's export is not a readable zip of JSONL files: {exc}") from None
        try:
            return {
                user: [json.loads(line) for line in text.splitlines() if line.strip()]
                for user, text in files.items()
            }
        except json.JSONDecodeError as exc:
            raise DoccanoError(f"Doccano's export has a line that is not JSON: {exc}") from None


def _label_type(data: Mapping[str, Any]) -> LabelType:
    return LabelType(
        data["id"],
        data["text"],
        data.get("background_color") or "",
        data.get("text_color") or "",
        data.get("suffix_key") or None,
        data.get("prefix_key") or None,
    )


def _comment(data: Mapping[str, Any]) -> Comment:
    return Comment(
        data["id"], data["example"], data.get("user"), str(data.get("username") or ""), data.get("text") or ""
    )


def _project(data: Mapping[str, Any]) -> Project:
    return Project(
        id=data["id"],
        name=data["name"],
        description=data.get("description", ""),
        guideline=data.get("guideline", ""),
        collaborative_annotation=bool(data.get("collaborative_annotation")),
        single_class_classification=bool(data.get("single_class_classification")),
        project_type=str(data.get("project_type") or ""),
        created_at=str(data.get("created_at") or ""),
    )


def client_from_settings(settings: Settings) -> DoccanoClient:
    """The client for the configured Doccano (`POSTROOM_DOCCANO_*`)."""
    return DoccanoClient(
        settings.doccano_url,
        settings.doccano_user,
        settings.doccano_password.get_secret_value(),
        timeout=settings.doccano_timeout_s,
        task_timeout=settings.doccano_task_timeout_s,
    )
