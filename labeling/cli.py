"""`postroom label push|pull|status|simulate` and `postroom bench labeling`. Thin: each calls one function."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from labeling.doccano import DoccanoClient, client_from_settings
from postroom.clikit import (
    SHARED_DATA,
    CliRoots,
    err,
    friendly_errors,
    load_settings,
    load_taxonomy_from,
    open_sessions,
    out,
)
from postroom.errors import PostroomError
from postroom.settings import Settings

label_app = typer.Typer(
    no_args_is_help=True,
    help="The labeling loop with Doccano: choose and push messages, pull the experts' labels, show progress.",
)

SourceOption = Annotated[
    list[str] | None,
    typer.Option("--source", help="Label source that counts as labeled (repeat); default: the setting."),
]


def _client(settings: Settings) -> DoccanoClient:
    return client_from_settings(settings)


def _some(items: list[str], limit: int = 10) -> str:
    """`a, b, c` — at most `limit` items, then `and N more`."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


@label_app.command("check")
@friendly_errors
def check(
    accept_new_project: Annotated[
        bool,
        typer.Option(
            "--accept-new-project",
            help="Doccano's data was wiped and a new project got the old one's id: record the old project "
            "as gone and use the new one.",
        ),
    ] = False,
) -> None:
    """Check that Doccano answers, its task worker runs, Postroom can log in as a project admin, and the
    project is one experts can label (text classification, several labels per example, every label there,
    with the guideline's shortcut keys). Changes nothing in Doccano.

    Exits 1 with the reason otherwise. Example: postroom label check
    """
    from labeling.doccano import PROJECT_ADMIN_ROLE
    from labeling.errors import DoccanoAuthError, ProjectNotFound
    from labeling.project import open_project, shortcut_drift, wanted_labels
    from labeling.sync import duplicates, notice_gone_projects
    from labeling.validate import duplicate_line

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    project = settings.doccano_project_name(taxonomy.name)
    with _client(settings) as client:
        client.health()
        me = client.me()
        out.print(
            f"[green]ok[/green] Doccano at {settings.doccano_url}: healthy, task worker up, "
            f"logged in as {me.username}"
        )
        _warn_gone(
            notice_gone_projects(
                open_sessions(settings), client, project, accept_replaced=accept_new_project
            )
        )
        try:
            layout = open_project(client, taxonomy, project)
        except ProjectNotFound:
            out.print(f"project {project!r}: not created yet (the first `postroom label push` creates it)")
            return
        if not me.is_superuser and (role := client.my_role(layout.id)) != PROJECT_ADMIN_ROLE:
            raise DoccanoAuthError(
                f"{me.username!r} is {'an ' + role if role else 'no member'} in project {project!r}: "
                "push and pull use Doccano's import and export, which need a project admin; set "
                f"POSTROOM_DOCCANO_USER to the admin account or make {me.username!r} project admin"
            )
        out.print(f"project {project!r}: id {layout.id}, {len(layout.label_ids)} labels")
        missing = [text for text in wanted_labels(taxonomy) if text not in layout.label_ids]
        if missing:
            err.print(
                f"[yellow]labels missing[/yellow] {len(missing)} of the taxonomy's labels are not in the "
                f"project, so experts cannot choose them: {escape(', '.join(missing[:10]))}"
                f"{' …' if len(missing) > 10 else ''}; `postroom label push` creates them again (with the "
                "guideline's keys)",
                highlight=False,
                soft_wrap=True,
            )
        drift = shortcut_drift(taxonomy, client.label_types(layout.id))
        if drift:
            err.print(
                f"[yellow]shortcut keys[/yellow] {len(drift)} labels' keys differ from the guideline's, so "
                f"experts pressing a key get another label than the guideline says: "
                f"{escape(_some([str(d) for d in drift], 5))}; `postroom label push` puts them back",
                highlight=False,
                soft_wrap=True,
            )
        _warn_duplicates([duplicate_line(m, ids) for m, ids in sorted(duplicates(client, layout.id).items())])


def _warn_gone(gone: Sequence[object]) -> None:
    """One stderr line per Doccano project the push records name that is gone."""
    for item in gone:
        err.print(f"[yellow]project gone[/yellow] {escape(str(item))}", highlight=False, soft_wrap=True)


def _warn_duplicates(lines: Sequence[str]) -> None:
    """One stderr line per message that is in the project more than once."""
    for line in lines:
        err.print(f"[yellow]duplicate[/yellow] {escape(line)}", highlight=False, soft_wrap=True)


@label_app.command("push")
@friendly_errors
def push(
    n: Annotated[int, typer.Option("--n", min=1, help="How many messages to send.")] = 50,
    strategy: Annotated[
        str,
        typer.Option(help="auto (cold start, then uncertainty once labels exist), cold, uncertain, random."),
    ] = "auto",
    message_ids: Annotated[
        list[str] | None, typer.Option("--message-id", help="Send exactly these messages (repeat).")
    ] = None,
    corrections: Annotated[
        bool, typer.Option("--corrections", help="Send agent corrections from the feedback loop for review.")
    ] = False,
    sources: SourceOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the clustering and sampling.")] = 0,
    allow_other_projects: Annotated[
        bool,
        typer.Option(
            "--allow-other-projects",
            help="Also send messages already in another Doccano project (pull then reports the projects' "
            "disagreements as conflicts).",
        ),
    ] = False,
) -> None:
    """Choose messages worth an expert's time and send them to Doccano (idempotent).

    An interrupted push is finished first. Example: postroom label push --n 60
    """
    from labeling.choose import choose_for_labeling
    from labeling.corrections import corrections_to_review
    from labeling.sync import (
        ORIGIN_CORRECTION,
        not_stored,
        notice_gone_projects,
        pending_push,
        push_messages,
    )

    if strategy not in ("auto", "cold", "uncertain", "random"):
        raise typer.BadParameter(f"unknown strategy {strategy!r}", param_hint="--strategy")
    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    sessions = open_sessions(settings)
    project = settings.doccano_project_name(taxonomy.name)
    suggestions: dict[str, str] = {}
    used = "given"
    near_copies = 0
    if message_ids and not corrections:
        with sessions() as session:
            unknown = not_stored(session, message_ids)
        if len(unknown) == len(set(message_ids)):
            raise PostroomError(f"nothing pushed: no stored message has the ID {_some(unknown)}")
    with _client(settings) as client:
        with err.status(f"checking Doccano at {settings.doccano_url}…"):
            client.login()  # a stopped Doccano or a wrong password fails here, before the slow choosing
            client.health()
            gone = notice_gone_projects(sessions, client, project)  # before choosing: frees its messages
        _warn_gone(gone)
        with sessions() as session:
            if corrections:
                suggestions = corrections_to_review(session, taxonomy)
                ids, used = list(suggestions), "agent corrections"
            elif message_ids:
                ids = list(message_ids)
            else:
                ids = pending_push(session, project)
                if len(ids) < n:
                    with err.status("choosing messages…"):
                        choice = choose_for_labeling(
                            session,
                            taxonomy,
                            n - len(ids),
                            project=project,
                            sources=tuple(sources or settings.labeling_sources),
                            target=settings.labeling_target_per_class,
                            strategy=strategy,  # type: ignore[arg-type]
                            seed=seed,
                        )
                    used = choice.strategy + (f" (+{len(ids)} from an interrupted push)" if ids else "")
                    ids += choice.message_ids
                    near_copies = choice.near_copies
                else:
                    used = "finishing an interrupted push"
        if near_copies:
            err.print(
                f"[yellow]near-copies not sent[/yellow] {near_copies} messages neither labeled nor in "
                "Doccano are near-copies of messages already labeled or chosen (a resend, a reminder): their "
                "labels would teach little; `--message-id ID` sends one anyway",
                highlight=False,
                soft_wrap=True,
            )
        if not ids:
            out.print(
                "nothing to push: every message is labeled, already in Doccano"
                + (", or a near-copy of one of those" if near_copies else "")
            )
            return
        with err.status(f"pushing {len(ids)} messages to {settings.doccano_url}…"):
            report = push_messages(
                sessions,
                client,
                taxonomy,
                project,
                ids,
                max_chars=settings.labeling_max_chars,
                origin=ORIGIN_CORRECTION if corrections else "selection",
                suggestions=suggestions,
                allow_other_projects=allow_other_projects,
            )
    table = Table(title=f"push to {project} (Doccano project {report.project_id})", show_header=False)
    for name, value in [
        ("selection", used),
        ("sent", len(report.pushed)),
        ("already in Doccano", len(report.already_in_doccano)),
        ("not in the store", len(report.not_in_store)),
        ("in another project, not sent", len(report.in_other_project)),
        ("found in Doccano, now recorded", report.reconciled),
    ]:
        table.add_row(name, str(value))
    out.print(table)
    _warn_gone(report.gone)
    _warn_duplicates(report.duplicate_lines())
    if report.not_in_store:
        err.print(
            f"[yellow]not in the store[/yellow] {escape(_some(report.not_in_store))}",
            highlight=False,
            soft_wrap=True,
        )
    if report.in_other_project:
        where = [f"{m} ({', '.join(p)})" for m, p in sorted(report.in_other_project.items())]
        err.print(
            f"[yellow]in another project[/yellow] not sent: {len(where)} messages are already in another "
            f"Doccano project: {escape(_some(where))}; `--allow-other-projects` sends them anyway (pull then "
            "reports where the projects disagree)",
            highlight=False,
            soft_wrap=True,
        )
    if report.keys_restored:
        err.print(
            f"[yellow]shortcut keys restored[/yellow] {len(report.keys_restored)} labels' keys were not the "
            f"guideline's, now they are: {escape(_some([str(d) for d in report.keys_restored], 5))}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"label them at {settings.doccano_url}/projects/{report.project_id}")


@label_app.command("pull")
@friendly_errors
def pull(
    drop_annotators: Annotated[
        list[str] | None,
        typer.Option(
            "--drop-annotator",
            help="An annotator removed from the project whose labels, as last pulled, should no longer "
            "count (repeat); labels already imported stay.",
        ),
    ] = None,
    comments: Annotated[
        bool,
        typer.Option(
            "--comments/--no-comments",
            help="Write each problem into Doccano as a comment on its example (and remove settled ones).",
        ),
    ] = True,
) -> None:
    """Import the experts' labels; incomplete or conflicting examples are reported, not imported.

    All or nothing: Doccano failing mid-pull leaves the store unchanged. Problems are also written into
    Doccano as comments on their examples, where the experts see them. Example: postroom label pull
    """
    from labeling.sync import pull_labels

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    sessions = open_sessions(settings)
    project = settings.doccano_project_name(taxonomy.name)
    with _client(settings) as client, err.status(f"reading labels from {settings.doccano_url}…"):
        client.health()  # a stopped task worker fails here, not after the export's time limit
        report = pull_labels(
            sessions, client, taxonomy, project, drop_annotators=drop_annotators or (), comments=comments
        )
    table = Table(title=f"pull from {project}", show_header=False)
    for name, value in [
        ("examples in Doccano", report.examples),
        ("not labeled yet", report.pending),
        ("in progress (labeled in part, not marked done)", report.in_progress),
        ("labeled and valid", report.accepted),
        ("labels added", report.added),
        ("labels changed (history kept)", report.changed),
        ("labels confirmed by an expert", report.confirmed),
        ("labels unchanged", report.unchanged),
        ("newer label kept (feedback/api)", report.kept_newer),
        ("problems (not imported)", len(report.problems)),
    ]:
        table.add_row(name, str(value))
    out.print(table)
    if report.deleted:
        err.print(
            f"[yellow]deleted in Doccano[/yellow] {len(report.deleted)} pushed messages are no longer "
            f"examples of the project: {escape(_some(report.deleted))}; set aside (no longer awaiting an "
            "expert, not chosen again); `postroom label push --message-id ID` sends one again",
            highlight=False,
            soft_wrap=True,
        )
    # problems, like every problem of the CLI, go to stderr; the summary (a result) last, to stdout.
    # Exit 0 either way: the valid labels were imported; a problem waits for the experts.
    _warn_gone(report.gone)
    _warn_duplicates(report.duplicate_lines())
    for problem in report.problems:
        err.print(f"[yellow]not imported[/yellow] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if report.not_in_store:
        err.print(
            f"[yellow]not in the store[/yellow] {escape(_some(report.not_in_store))}",
            highlight=False,
            soft_wrap=True,
        )
    for annotator, ids in report.missing_annotators.items():
        err.print(
            f"[yellow]annotator gone[/yellow] {escape(annotator)} is no longer in the project (Doccano's "
            f"export leaves them out): their labels of {len(ids)} messages, as last pulled, still count "
            f"({escape(_some(ids))}); add them back to the project to change them, or `postroom label pull "
            f"--drop-annotator {escape(annotator)}` to stop counting them",
            highlight=False,
            soft_wrap=True,
        )
    for annotator, ids in report.dropped.items():
        err.print(
            f"[yellow]annotator dropped[/yellow] the labels of {escape(annotator)} no longer count for "
            f"{len(ids)} messages ({escape(_some(ids))}); labels already imported stay",
            highlight=False,
            soft_wrap=True,
        )
    if report.comment_error:
        err.print(
            f"[yellow]comments not written[/yellow] {escape(report.comment_error)}; the next pull writes "
            "them",
            highlight=False,
            soft_wrap=True,
        )
    elif report.comments is not None and (report.comments.written or report.comments.removed):
        c = report.comments
        out.print(
            f"comments in Doccano: {c.written} written, {c.kept} unchanged, {c.removed} removed (settled)",
            highlight=False,
        )
    count = len(report.problems)
    examples = f"{report.accepted} {'example' if report.accepted == 1 else 'examples'}"
    problems = f"{count} {'problem' if count == 1 else 'problems'} (see above)" if count else "no problems"
    out.print(f"imported the labels of {examples}; {problems}", highlight=False)


@label_app.command("status")
@friendly_errors
def status(
    sources: SourceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Labeled messages per label set and class against the target N; which classes are below it.

    Example: postroom label status --source doccano
    """
    from labeling.status import labeling_status

    settings = load_settings()
    taxonomy = load_taxonomy_from(settings)
    with open_sessions(settings)() as session:
        result = labeling_status(
            session,
            taxonomy,
            settings.labeling_target_per_class,
            tuple(sources or settings.labeling_sources),
            project=settings.doccano_project_name(taxonomy.name),
        )
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    out.print(
        f"target N = {result.target} per class; counting sources: {', '.join(result.sources)}; "
        f"{result.awaiting_expert} pushed messages await an expert"
    )
    _print_pull_problems(result.pull_problems)
    for label_set in result.sets:
        short = len(label_set.below_target)
        verdict = (
            f"[green]every class at target N = {result.target}[/green]"
            if label_set.at_target
            else f"[yellow]{short} {'class' if short == 1 else 'classes'} below target N = {result.target}"
            "[/yellow]"
        )
        table = Table(title=f"{label_set.name}: {verdict}")
        table.add_column("class")
        table.add_column("labeled", justify="right")
        table.add_column("missing", justify="right")
        for c in sorted(label_set.classes, key=lambda c: (-c.missing, c.name)):
            table.add_row(c.name, str(c.labeled), str(c.missing) if c.missing else "")
        out.print(table)


def _print_pull_problems(found: dict[str, dict[str, Any]] | None) -> None:
    """What the last pull recorded: per kind of problem, how many and the first message IDs."""
    from labeling.sync import PROBLEM_KINDS

    if found is None:
        return
    if not found:
        out.print("the last pull found no problems")
        return
    out.print("problems found by the last pull (`postroom label pull` shows each one):")
    for kind, item in found.items():
        more = int(item["count"]) - len(item["message_ids"])
        ids = ", ".join(item["message_ids"]) + (f" and {more} more" if more > 0 else "")
        name = PROBLEM_KINDS.get(kind, kind)
        out.print(f"  {escape(name)}: {item['count']} ({escape(ids)})", highlight=False, soft_wrap=True)


@label_app.command("simulate")
@friendly_errors
def simulate(
    oracle_source: Annotated[
        str, typer.Option(help="Label source in the store that holds the truth (the demo corpus: import).")
    ] = "import",
    expert: Annotated[str, typer.Option(help="Doccano user name of the simulated expert.")] = "sim-expert",
    limit: Annotated[int | None, typer.Option(help="Label at most this many examples.")] = None,
) -> None:
    """Demo only: label the pushed examples in Doccano as an expert would, from the store's known labels.

    Example: postroom label simulate --limit 40
    """
    from labeling.simulate import simulate_expert

    settings = load_settings()
    password = settings.doccano_sim_password.get_secret_value()
    if not password:
        raise PostroomError("set POSTROOM_DOCCANO_SIM_PASSWORD: the dev default works on loopback only")
    taxonomy = load_taxonomy_from(settings)
    sessions = open_sessions(settings)
    with _client(settings) as admin, sessions() as session, err.status("labeling as the simulated expert…"):
        report = simulate_expert(
            session,
            admin,
            taxonomy,
            settings.doccano_project_name(taxonomy.name),
            expert,
            password,
            oracle_source=oracle_source,
            limit=limit,
        )
    out.print(
        f"{expert} labeled {report.labeled} examples ({report.already_labeled} were already labeled, "
        f"{report.no_truth} have no {oracle_source!r} labels)"
    )


def bench_labeling(
    data_dir: Annotated[Path, typer.Option(help="Folder with banking77_{train,test}.jsonl.")] = (
        SHARED_DATA / "banking77"
    ),
    seeds: Annotated[int, typer.Option(min=1, help="Number of seeds (0, 1, …).")] = 3,
    out_dir: Annotated[Path, typer.Option(help="Where labeling.json and labeling.md go.")] = Path(
        "docs/benchmarks"
    ),
    cache_dir: Annotated[Path, typer.Option(help="Embedding cache.")] = Path(".cache/labeling-bench"),
) -> None:
    """Simulated-expert benchmark on BANKING77: random vs Postroom's selection, macro-F1 at 2/4/8 per class.

    Example: postroom bench labeling
    """
    from labeling.bench import BenchConfig, load_banking77, run_benchmark, write_report

    if not (data_dir / "banking77_train.jsonl").is_file():
        raise PostroomError(f"BANKING77 not found in {data_dir} (see ../shared/data/README.md)")
    with err.status("embedding BANKING77 (cached after the first run)…"):
        data = load_banking77(data_dir, cache_dir)
    config = BenchConfig(seeds=tuple(range(seeds)))
    result = run_benchmark(data, config, progress=lambda msg: err.print(f"running {msg}"))
    command = "postroom bench labeling" + (f" --seeds {seeds}" if seeds != 3 else "")
    paths = write_report(
        result,
        out_dir,
        command,
        {
            "dataset": "BANKING77 (PolyAI, CC BY 4.0): train as the unlabeled pool, test for scoring",
            "learner": "frozen packaged all-MiniLM-L6-v2 embeddings + logistic regression (C=10)",
        },
    )
    out.print(f"wrote {paths[0]} and {paths[1]}")


def register(roots: CliRoots) -> None:
    """Add `postroom label …` and `postroom bench labeling`."""
    from labeling.erase_cli import forget, purge

    roots.app.add_typer(label_app, name="label")
    roots.app.command("forget")(forget)
    roots.app.command("purge")(purge)
    roots.bench.command("labeling")(friendly_errors(bench_labeling))
