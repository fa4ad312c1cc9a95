"""The pull's problems, written back into Doccano as comments on their examples, where the experts work.

Doccano 1.8.4 keeps comments per example (`/v1/projects/<id>/comments?example=<id>`); the annotation page's
comment panel shows every member's. Postroom writes at most one comment per example, as its own user, and
its text starts with `MARK`: that (with the user) is how a later pull finds its own comments among the
experts'. Each pull brings them in line with its problems: a comment whose text is unchanged is kept (no
duplicates on repeated pulls), a changed problem replaces the comment, and the comment of a problem that is
settled is deleted. Experts' own comments are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labeling.doccano import Comment, DoccanoClient
from labeling.validate import Problem

MARK = "[Postroom]"  # the start of every comment Postroom writes
FOOTER = "Postroom removes this comment once the problem is settled (at the next `postroom label pull`)."
ADVICE = {
    "conflicting": "Settle it: keep one label per set (remove the extra one); where annotators (or "
    "projects) disagree, they agree on one and one of them changes their labels.",
    "incomplete": "Add a label for each set left out (Enter first if the email is marked done), then mark it "
    "done.",
    "done_without_label": "Marked done without a label: the team lead decides whether it is labeled or left "
    "out (deleted from the project).",
    "unknown_label": "Remove the label that is not in the guideline and choose one of the guideline's.",
    "no_message_id": "Not sent by Postroom (no message_id in its metadata): a project admin deletes it.",
}


@dataclass(frozen=True)
class CommentReport:
    """What a pull changed among Postroom's comments in Doccano."""

    written: int = 0  # new or changed problems
    kept: int = 0  # the same problem as before: its comment stays as it is
    removed: int = 0  # settled problems (and replaced texts)


def problem_text(problem: Problem) -> str:
    """The comment for one problem: what is wrong (who), then what to do."""
    lines = [f"{MARK} not imported into Postroom: {'; '.join(problem.details)}"]
    rest = [a for a in problem.annotators if a not in problem.named]
    if rest:
        lines[0] += f" (labeled by {', '.join(rest)})"
    lines += [ADVICE[kind] for kind in problem.kinds if kind in ADVICE]
    return "\n".join([*lines, FOOTER])


def duplicate_text(example_ids: Sequence[int]) -> str:
    shown = ", ".join(map(str, sorted(example_ids)))
    return (
        f"{MARK} this email is in the project {len(example_ids)} times (examples {shown}): a project admin "
        "deletes the extra copies; their labels are not merged when they differ."
    )


def problem_comments(
    problems: Sequence[Problem], duplicates: Mapping[str, Sequence[int]] | None = None
) -> dict[int, str]:
    """Doccano example id -> the comment it should carry, for every example with a problem (each copy of a
    message that is in the project more than once included)."""
    texts: dict[int, list[str]] = defaultdict(list)
    for problem in problems:
        for example_id in problem.example_ids:
            texts[example_id].append(problem_text(problem))
    for example_ids in (duplicates or {}).values():
        for example_id in example_ids:
            texts[example_id].insert(0, duplicate_text(example_ids))
    return {e: "\n\n".join(parts) for e, parts in sorted(texts.items()) if e}


def sync_comments(client: DoccanoClient, project_id: int, wanted: Mapping[int, str]) -> CommentReport:
    """Bring Postroom's comments in the project in line with `wanted` (example id -> text): idempotent.

    Raises:
        DoccanoError (and its kinds): some comments may be written; the next call finishes the job.
    """
    me = client.me()
    mine: dict[int, list[Comment]] = defaultdict(list)
    for comment in client.comments(project_id):
        if comment.user == me.id and comment.text.startswith(MARK):
            mine[comment.example].append(comment)
    written = kept = removed = 0
    for example_id, text in sorted(wanted.items()):
        existing = mine.pop(example_id, [])
        same = next((c for c in existing if c.text.strip() == text.strip()), None)
        for comment in existing:
            if comment is not same:
                client.delete_comment(project_id, comment.id)
                removed += 1
        if same is None:
            client.add_comment(project_id, example_id, text)
            written += 1
        else:
            kept += 1
    for comments in mine.values():  # settled: no problem on the example any more
        for comment in comments:
            client.delete_comment(project_id, comment.id)
            removed += 1
    return CommentReport(written, kept, removed)
