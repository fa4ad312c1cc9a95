"""A simulated expert for the demo: labels pushed examples in Doccano the way an expert user would.

The truth comes from the store: the newest label of each set from `oracle_source` (the demo corpus's
labels are ingested with source `import`). The expert is a separate Doccano user, an annotator of the
project, who posts one category per label set through the same API the web UI uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labeling.doccano import DoccanoClient, User
from labeling.errors import DoccanoError
from labeling.project import ProjectLayout, label_text, open_project
from postroom.store.models import Label, Message
from postroom.taxonomy import Taxonomy


@dataclass
class SimulationReport:
    labeled: int = 0
    already_labeled: int = 0
    no_truth: int = 0  # examples whose message has no oracle label in some set


def ensure_expert(admin: DoccanoClient, project_id: int, username: str, password: str) -> User:
    """The expert user (created when missing) as an annotator of the project."""
    user = admin.find_user(username)
    if user is None:
        user = admin.create_user(username, password)
    admin.add_member(project_id, user)
    return user


def truth_labels(
    session: Session, taxonomy: Taxonomy, message_ids: list[str], source: str
) -> dict[str, dict[str, str]]:
    """message_id -> {set: class}, the newest label of `source` per set (current or not)."""
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(message_ids), 500):
        rows = session.execute(
            select(Message.message_id, Label.label_set, Label.class_name)
            .join(Label, Label.message_pk == Message.id)
            .where(Message.message_id.in_(message_ids[start : start + 500]), Label.source == source)
            .order_by(Label.id)
        )
        for message_id, set_name, class_name in rows:
            if set_name in taxonomy.set_names:
                found.setdefault(message_id, {})[set_name] = class_name
    return found


def simulate_expert(
    session: Session,
    admin: DoccanoClient,
    taxonomy: Taxonomy,
    project_name: str,
    expert_user: str,
    expert_password: str,
    *,
    oracle_source: str = "import",
    limit: int | None = None,
) -> SimulationReport:
    """Label every unlabeled example of the project (up to `limit`) as `expert_user`, from the oracle."""
    layout = open_project(admin, taxonomy, project_name)
    ensure_expert(admin, layout.id, expert_user, expert_password)
    with DoccanoClient(
        admin.base_url, expert_user, expert_password, timeout=admin.timeout, task_timeout=admin.task_timeout
    ) as expert:
        return _label_all(session, expert, taxonomy, layout, oracle_source, limit)


def _label_all(
    session: Session,
    expert: DoccanoClient,
    taxonomy: Taxonomy,
    layout: ProjectLayout,
    oracle_source: str,
    limit: int | None,
) -> SimulationReport:
    examples = list(expert.examples(layout.id))
    truth = truth_labels(
        session, taxonomy, [str(e.meta.get("message_id", "")) for e in examples], oracle_source
    )
    report = SimulationReport()
    for example in examples:
        if limit is not None and report.labeled >= limit:
            break
        labels = truth.get(str(example.meta.get("message_id", "")), {})
        if any(s not in labels for s in taxonomy.set_names):
            report.no_truth += 1
            continue
        if expert.categories(layout.id, example.id):
            report.already_labeled += 1
            continue
        for set_name, class_name in labels.items():
            name = label_text(taxonomy, set_name, class_name)
            if name not in layout.label_ids:
                raise DoccanoError(
                    f"project {layout.project.name!r} has no label {name!r}: push again to sync labels"
                )
            expert.add_category(layout.id, example.id, layout.label_ids[name])
        report.labeled += 1
    return report
