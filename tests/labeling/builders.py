"""Builders of labeling test data: bank emails in English and German with their true labels."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from postroom.ingest.records import IncomingMessage
from postroom.ingest.service import ingest_one

# topic -> (line of business, queue, English phrasings, German phrasings)
TOPICS: dict[str, tuple[str, str, list[str], list[str]]] = {
    "card_replacement": (
        "retail", "cards",
        ["I lost my debit card yesterday at {place}, please block it and send a new one.",
         "My credit card was stolen in {place}. I need a replacement card as soon as possible."],
        ["Ich habe meine Girocard in {place} verloren, bitte sperren und eine neue schicken.",
         "Meine Kreditkarte wurde in {place} gestohlen. Ich brauche dringend eine Ersatzkarte."],
    ),
    "card_payment_declined": (
        "retail", "cards",
        ["My card payment of {amount} EUR at {place} was declined although my balance is fine.",
         "The ATM in {place} refused to give me cash with my card, what is wrong?"],
        ["Meine Kartenzahlung über {amount} EUR in {place} wurde abgelehnt, obwohl das Konto gedeckt ist.",
         "Der Geldautomat in {place} hat meine Karte abgelehnt, was ist los?"],
    ),
    "transfer_status": (
        "retail", "payments",
        ["I sent {amount} EUR to my landlord on Monday and it has still not arrived.",
         "My SEPA transfer of {amount} EUR came back, can you tell me why?"],
        ["Meine Überweisung über {amount} EUR an den Vermieter ist seit Montag nicht angekommen.",
         "Die SEPA-Überweisung über {amount} EUR kam zurück, warum?"],
    ),
    "standing_order": (
        "retail", "payments",
        ["Please change my standing order for the rent to {amount} EUR from next month.",
         "How do I cancel the monthly standing order to my gym in {place}?"],
        ["Bitte ändern Sie meinen Dauerauftrag für die Miete ab nächsten Monat auf {amount} EUR.",
         "Wie kündige ich den Dauerauftrag an mein Fitnessstudio in {place}?"],
    ),
    "order_execution": (
        "brokerage", "securities",
        ["My buy order for {amount} shares was rejected this morning, why?",
         "At what price was my sell order of {amount} shares executed?"],
        ["Meine Kauforder über {amount} Aktien wurde heute früh abgelehnt, warum?",
         "Zu welchem Kurs wurde meine Verkaufsorder über {amount} Aktien ausgeführt?"],
    ),
    "dividend_payment": (
        "brokerage", "securities",
        ["The dividend of {amount} EUR from my fund has not been credited to my account.",
         "Why was tax deducted from my dividend payment of {amount} EUR?"],
        ["Die Dividende über {amount} EUR aus meinem Fonds wurde nicht gutgeschrieben.",
         "Warum wurde von meiner Dividende über {amount} EUR Steuer abgezogen?"],
    ),
    "fee_complaint": (
        "business", "complaints",
        ["You charged our company {amount} EUR in account fees without notice, we object.",
         "We dispute the fee of {amount} EUR on our business account statement."],
        ["Sie haben unserer Firma {amount} EUR Gebühren ohne Ankündigung berechnet, wir widersprechen.",
         "Wir beanstanden die Gebühr von {amount} EUR auf dem Auszug unseres Geschäftskontos."],
    ),
    "online_banking_access": (
        "retail", "accounts",
        ["I cannot log in to online banking since I got a new phone in {place}.",
         "My online banking access is blocked after three wrong passwords."],
        ["Ich komme seit dem neuen Handy nicht mehr ins Online-Banking.",
         "Mein Online-Banking-Zugang ist nach drei falschen Passwörtern gesperrt."],
    ),
}  # fmt: skip
PLACES = ["Hamburg", "Berlin", "Lisbon", "Munich", "the airport", "Vienna", "Cologne", "Paris"]


@dataclass
class Mail:
    message_id: str
    subject: str
    body: str
    language: str
    labels: dict[str, str] = field(default_factory=dict)


def bank_mails(n: int, seed: int = 0, prefix: str = "msg") -> list[Mail]:
    """`n` distinct emails cycling over the topics, English and German alternating."""
    rng = random.Random(seed)
    topics = list(TOPICS)
    mails = []
    for i in range(n):
        topic = topics[i % len(topics)]
        lob, queue, english, german = TOPICS[topic]
        language = "en" if (i // len(topics)) % 2 == 0 else "de"
        template = rng.choice(english if language == "en" else german)
        body = template.format(place=rng.choice(PLACES), amount=rng.randint(10, 5000))
        greeting = "Hello," if language == "en" else "Guten Tag,"
        closing = "Best regards" if language == "en" else "Viele Grüße"
        mails.append(
            Mail(
                message_id=f"<{prefix}-{i:04d}@mail.example>".strip("<>"),
                subject=f"{topic.replace('_', ' ')} #{i}",
                body=f"{greeting}\n\n{body}\n\n{closing}\nKunde {i}",
                language=language,
                labels={"line_of_business": lob, "queue": queue, "topic": topic},
            )
        )
    return mails


def store_mails(
    sessions: sessionmaker[Session], mails: list[Mail], *, with_labels: bool = False, source: str = "import"
) -> None:
    """Store mails through the real ingestion (cleaning, language detection), optionally with their labels."""
    with sessions.begin() as session:
        for mail in mails:
            incoming = IncomingMessage(
                message_id=mail.message_id,
                raw=mail.body,
                raw_format="text",
                origin=f"builders:{mail.message_id}",
                subject=mail.subject,
                labels=dict(mail.labels) if with_labels else {},
            )
            assert ingest_one(session, incoming, source=source).outcome == "inserted"
