"""Render an auto-reply template in the message's language, inside the taxonomy's greeting and closing."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.taxonomy import ClassDef, Taxonomy


@dataclass(frozen=True)
class RenderedReply:
    language: str
    subject: str
    body: str


def render_reply(taxonomy: Taxonomy, class_def: ClassDef, language: str) -> RenderedReply | None:
    """The reply for `language`, or None when the class has no template in it (never another language)."""
    template = class_def.auto_reply.get(language)
    if template is None:
        return None
    frame = taxonomy.reply_frames.get(language)
    parts = [frame.greeting if frame else "", template.body.strip(), frame.closing if frame else ""]
    return RenderedReply(language, template.subject, "\n\n".join(p for p in parts if p))
