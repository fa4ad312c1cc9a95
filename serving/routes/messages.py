"""`POST /v1/messages` (store one message), `GET /v1/messages/{id}` (a stored message, its latest result)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response
from starlette.convertors import Convertor, register_url_convertor

from serving.deps import AppServices, DbSession, RawBody, RouterKey, media_type
from serving.errors import UnsupportedMediaType
from serving.schemas import ErrorPublic, MessageCreate, MessagePublic, MessageStored
from serving.service import get_message, parse_json_message, parse_rfc822_message, store_message


class AnyTextConvertor(Convertor[str]):
    """A path parameter of any characters, newlines included: Starlette's `path` stops at a newline, so
    `/v1/messages/a%0Ab` would match no route (404) instead of reaching the ID check (422)."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any_text", AnyTextConvertor())

router = APIRouter(prefix="/v1/messages", tags=["messages"])
ERRORS = {code: {"model": ErrorPublic} for code in (401, 403, 409, 413, 415, 422, 503)}
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": MessageCreate.model_json_schema(ref_template="#/components/schemas/{model}")
            },
            "message/rfc822": {
                "schema": {"type": "string", "format": "binary"},
                "example": "Message-ID: <m1@example.org>\r\nSubject: Card lost\r\n\r\nPlease block it.",
            },
        },
    }
}


@router.post(
    "",
    status_code=201,
    responses={**ERRORS, 200: {"model": MessageStored, "description": "Already stored with this content."}},
    openapi_extra=BODY_DOC,
)
def create_message(
    services: AppServices,
    db: DbSession,
    body: RawBody,
    response: Response,
    _key: RouterKey,
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> MessageStored:
    """Store one message, idempotent by its ID: as JSON (the fields of a JSONL ingestion record), or as a raw
    email with `Content-Type: message/rfc822`. 201 when stored, 200 when already stored with the same content,
    409 when the ID is stored with another content (never overwritten)."""
    media = media_type(content_type)
    limit = services.settings.max_message_bytes
    if media == "application/json":
        incoming = parse_json_message(body, services.taxonomy, limit)
    elif media == "message/rfc822":
        incoming = parse_rfc822_message(body, services.taxonomy, limit)
    else:
        raise UnsupportedMediaType(
            f"send the message as application/json or message/rfc822, not {media or 'no Content-Type'}"
        )
    result = store_message(db, incoming)
    if result.outcome == "unchanged":
        response.status_code = 200
    return MessageStored(
        message_id=result.message.message_id,
        outcome=result.outcome,  # type: ignore[arg-type]
        labels_added=result.labels_added,
        label_conflicts=result.label_conflicts,
        ignored_fields=result.ignored,
    )


@router.get(
    "/{message_id:any_text}", responses={code: {"model": ErrorPublic} for code in (401, 403, 404, 422)}
)
def read_message(message_id: str, db: DbSession, _key: RouterKey) -> MessagePublic:
    """A stored message: its fields, cleaned text, current labels and latest prediction with its decision.
    IDs may contain any printable characters; URL-encode them (`<` and `>` around an ID are ignored)."""
    return MessagePublic.of(get_message(db, message_id))
