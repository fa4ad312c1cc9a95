#!/usr/bin/env python3
"""Build the Postroom demo corpus for the fictional Nordhafen Bank.

Writes ``examples/demo/corpus.jsonl``: bilingual (German / English) client e-mails to the
customer service of a fictional Hamburg retail bank and online broker, each labelled with one
class per label set of ``postroom/resources/taxonomy.yaml`` (line_of_business, queue, topic).

Everything here is invented for this project: the client messages are hand-written per topic and
language (see ``TEMPLATES``), the details (names, amounts, dates, IBAN fragments, ISINs, order
numbers) are drawn from small fictional pools, and the e-mail noise around the client's words
(greetings, sign-offs, signatures, mobile footers, disclaimers, quoted bank replies, forwards,
HTML and MIME packaging) is generated from the functions below. Nothing is copied from real mail.

The script is deterministic (``SEED``) and uses the standard library only; PyYAML is used for
the taxonomy check when it is installed, otherwise a light line parser reads the class names.

Usage::

    python examples/demo/build_corpus.py            # build, validate, print statistics
    python examples/demo/build_corpus.py --markdown # same, statistics as Markdown tables
"""
from __future__ import annotations

import argparse
import datetime as dt
import email
import html
import json
import random
import re
import struct
import sys
import textwrap
import zlib
from collections import Counter, defaultdict
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

SEED = 20260417
HERE = Path(__file__).resolve().parent
OUT_PATH = HERE / "corpus.jsonl"
TAXONOMY_PATH = HERE.parent.parent / "postroom" / "resources" / "taxonomy.yaml"

BANK_DOMAIN = "nordhafen-bank.example"
RECORD_KEYS_PLAIN = ("message_id", "subject", "sender", "received_at", "body",
                     "line_of_business", "queue", "topic")
RECORD_KEYS_RAW = ("message_id", "subject", "sender", "received_at", "raw",
                   "line_of_business", "queue", "topic")

# How many e-mails per topic (languages alternate, so each topic is about 50/50 de/en).
TOPIC_COUNTS = {
    "card_replacement": 45,
    "card_payment_declined": 36,
    "transfer_status": 38,
    "standing_order": 30,
    "address_change": 32,
    "account_statement": 30,
    "tax_certificate": 30,
    "online_banking_access": 38,
    "account_closure": 26,
    "order_execution": 36,
    "portfolio_transfer": 24,
    "dividend_payment": 26,
    "fee_complaint": 32,
    "service_complaint": 30,
}

DEFAULT_QUEUE = {
    "card_replacement": "cards",
    "card_payment_declined": "cards",
    "transfer_status": "payments",
    "standing_order": "payments",
    "address_change": "accounts",
    "account_statement": "accounts",
    "online_banking_access": "accounts",
    "account_closure": "accounts",
    "order_execution": "securities",
    "portfolio_transfer": "securities",
    "dividend_payment": "securities",
    "fee_complaint": "complaints",
    "service_complaint": "complaints",
    # tax_certificate: securities for brokerage clients, accounts otherwise (see default_queue)
}


def default_queue(topic: str, lob: str) -> str:
    if topic == "tax_certificate":
        return "securities" if lob == "brokerage" else "accounts"
    return DEFAULT_QUEUE[topic]


# ---------------------------------------------------------------------------------------------
# Fictional pools
# ---------------------------------------------------------------------------------------------

DE_FEMALE = ["Anna", "Julia", "Sabine", "Katrin", "Monika", "Petra", "Ursula", "Ingrid", "Lena", "Sophie", "Marie", "Laura", "Hannah", "Lisa", "Claudia", "Birgit", "Heike", "Renate", "Jana", "Nina", "Svenja", "Merle", "Frauke", "Gisela", "Ayse", "Elif", "Natalia", "Kerstin", "Doris", "Wiebke", "Insa", "Greta"]
DE_MALE = ["Thomas", "Michael", "Andreas", "Stefan", "Jan", "Lukas", "Felix", "Jonas", "Peter", "Klaus", "Wolfgang", "Jürgen", "Hans-Peter", "Uwe", "Dirk", "Sven", "Torben", "Hauke", "Malte", "Björn", "Mehmet", "Emre", "Piotr", "Dieter", "Horst", "Günter", "Niklas", "Tim", "Florian", "Matthias", "Ole", "Henning"]
DE_LAST = ["Becker", "Schmidt", "Müller", "Schulz", "Hoffmann", "Wagner", "Fischer", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Schröder", "Braun", "Krüger", "Hartmann", "Lange", "Werner", "Petersen", "Jensen", "Hansen", "Lüders", "Möller", "Thiessen", "Brandt", "Vogt", "Friedrichs", "Albers", "Kowalski", "Yilmaz", "Öztürk", "Nowak", "Schäfer", "Jürgensen", "Claussen", "Meyer", "Heinrich", "Ahrens", "Böhm", "Kühn", "Rademacher", "Sievers", "Martens", "Voß", "Dittmer"]
EN_FEMALE = ["Sarah", "Emily", "Jessica", "Olivia", "Priya", "Ana", "Sofia", "Olena", "Maria", "Chloe", "Hannah", "Rachel", "Aisha", "Mei", "Laura", "Charlotte", "Fatima", "Emma", "Grace", "Julia", "Ingrid", "Zoe"]
EN_MALE = ["James", "David", "Michael", "Daniel", "Tom", "Luca", "Ahmed", "Tomasz", "Raj", "Carlos", "Ben", "Oliver", "Lucas", "Mateo", "Chen", "Ivan", "Samuel", "Patrick", "Ethan", "Omar", "Andrew", "Kenji"]
EN_LAST = ["Mitchell", "Carter", "O'Connor", "Sharma", "Souza", "Romano", "Kovalenko", "Nowak", "Chen", "Hassan", "Whitfield", "Lindström", "Patel", "Murphy", "Fernandes", "Evans", "Novak", "Rossi", "Kim", "Walsh", "Taylor", "Moreau", "Andersen", "Okafor", "Haddad", "Brennan", "Gallagher", "Ivanova", "Tanaka"]

# (company name, short slug, managing director(s))
COMPANIES_DE = [
    ("Kaiser Haustechnik GmbH", "kaiser-haustechnik", "Markus Kaiser"),
    ("Brandt & Söhne Metallbau KG", "brandt-metallbau", "Heinz Brandt, Ole Brandt"),
    ("Elbufer Gastro GmbH", "elbufer-gastro", "Deniz Aksoy"),
    ("Hinrichsen Logistik GmbH & Co. KG", "hinrichsen-logistik", "Kirsten Hinrichsen"),
    ("Bäckerei Lüders e.K.", "baeckerei-lueders", "Jens Lüders"),
    ("Steuerkanzlei Wittmann & Partner", "kanzlei-wittmann", "StB Dr. Carola Wittmann"),
    ("Nordlicht Events UG (haftungsbeschränkt)", "nordlicht-events", "Leonie Strauß"),
    ("Tischlerei Petersen GmbH", "tischlerei-petersen", "Hauke Petersen"),
    ("Architekturbüro Lange + Roth", "lange-roth", "Dipl.-Ing. Friederike Lange"),
    ("Grünwerk Gartenbau GmbH", "gruenwerk", "Sönke Martens"),
    ("Praxis für Physiotherapie Albers", "physio-albers", "Maren Albers"),
    ("Fahrradhaus Eimsbüttel GmbH", "fahrradhaus-eimsbuettel", "Tobias Reimers"),
    ("Sievers Elektrotechnik GmbH", "sievers-elektro", "Rainer Sievers"),
    ("Hafenkontor Import-Export GmbH", "hafenkontor", "Karim Benali"),
]
COMPANIES_EN = [
    ("Harbourline Consulting GmbH", "harbourline", "Sarah Mitchell"),
    ("Lindqvist Trading GmbH", "lindqvist-trading", "Erik Lindqvist"),
    ("Bluefjord Software UG", "bluefjord", "Ingrid Haugen, Tom Walsh"),
    ("Castell Imports GmbH", "castell-imports", "Luca Romano"),
    ("Northbridge Media GmbH", "northbridge-media", "Rachel Evans"),
    ("Oakwood Design Studio GmbH", "oakwood-design", "Ben Carter"),
    ("Pixel & Pine GmbH", "pixel-pine", "Mei Chen"),
    ("Saltmarsh Coffee Roasters GmbH", "saltmarsh-coffee", "Patrick Brennan"),
    ("Kestrel Robotics GmbH", "kestrel-robotics", "Dr. Kenji Tanaka"),
]

ASSOCIATIONS = [
    ("Sportverein Hamm-Nord e.V.", "sv-hamm-nord", "Birte Lorenzen (1. Vorsitzende)"),
    ("Förderverein Grundschule Am Park e.V.", "foerderverein-am-park", "Jens Kröger (Vorsitzender)"),
    ("Ruderclub Alsterufer e.V.", "rc-alsterufer", "Dr. Anja Behrens (Vorsitzende)"),
]

ROLES_DE = ["Geschäftsführer", "Geschäftsführerin", "Buchhaltung", "Finanzbuchhaltung", "Inhaber",
            "Inhaberin", "Assistenz der Geschäftsführung", "Leitung Rechnungswesen", "Prokurist",
            "Office Management"]
ROLES_EN = ["Managing Director", "Head of Finance", "Finance & Accounting", "Office Manager",
            "Founder & CEO", "Accounts Payable", "Chief Financial Officer", "Operations Manager"]

STREETS = ["Lindenallee", "Am Mühlenteich", "Schulweg", "Kirchenstraße", "Birkenweg",
           "Osterstraße", "Eppendorfer Weg", "Am Sandtorpark", "Holstenstraße", "Beethovenstraße",
           "Rosenstraße", "Parkallee", "Fährstraße", "Hasselbrookstraße", "Wandsbeker Chaussee",
           "Friedenstraße", "Bahnhofstraße", "Mühlenkamp", "Poststraße", "Jarrestraße"]
CITIES = [("20095", "Hamburg"), ("20357", "Hamburg"), ("22085", "Hamburg"), ("22303", "Hamburg"),
          ("22767", "Hamburg"), ("21073", "Hamburg"), ("22846", "Norderstedt"),
          ("25421", "Pinneberg"), ("23552", "Lübeck"), ("24103", "Kiel"), ("28195", "Bremen"),
          ("21335", "Lüneburg"), ("10435", "Berlin"), ("30159", "Hannover"), ("80331", "München"),
          ("50667", "Köln"), ("21614", "Buxtehude"), ("22880", "Wedel")]

OTHER_BANKS = ["Hansa Sparkasse", "Weserbank", "Finanzhaus Süd", "Alsterbroker", "TradeRiver Bank",
               "Volksbank Elbmarsch", "Kieler Direktbank", "Mainufer Invest"]
OTHER_BANKS_EN = ["Hansa Sparkasse", "Weserbank", "TradeRiver Bank", "Kieler Direktbank",
                  "Harbour Invest", "Mainufer Invest", "Thames & Tyne Brokers"]

ABROAD_DE = [("in Portugal", "nach Portugal"), ("in Spanien", "nach Spanien"),
             ("in Thailand", "nach Thailand"), ("in den USA", "in die USA"),
             ("in Italien", "nach Italien"), ("in Kroatien", "nach Kroatien"),
             ("in der Türkei", "in die Türkei"), ("in Mexiko", "nach Mexiko"),
             ("in Norwegen", "nach Norwegen"), ("in der Schweiz", "in die Schweiz"),
             ("in Polen", "nach Polen")]
ABROAD_EN = [("in Portugal", "to Portugal"), ("in Spain", "to Spain"), ("in Thailand", "to Thailand"),
             ("in the US", "to the US"), ("in Italy", "to Italy"), ("in Croatia", "to Croatia"),
             ("in Turkey", "to Turkey"), ("in Mexico", "to Mexico"), ("in Norway", "to Norway"),
             ("in Switzerland", "to Switzerland"), ("in Poland", "to Poland"),
             ("in the UK", "to the UK"), ("in India", "to India")]

CREDITORS_DE = ["Fitnessstudio Hafenkraft GmbH", "Stadtwerke Nordheide", "Mobilfunk Nord AG",
                "Verlag Elbblick", "Versicherungskontor Hamburg", "Sportverein Eilbek e.V."]
CREDITORS_EN = ["Hafenkraft Fitness", "Mobilfunk Nord", "Elbblick Publishing", "Northern Power & Gas",
                "StreamBox Europe"]
CREDITORS_UNKNOWN = ["NX Media Services Ltd", "PayQuick Europe", "WinSub Abo-Service",
                     "GLX Digital Ltd", "Primo Lotto Service"]
PAYEES_EN = ["my cleaner", "Elbe Rowing Club", "Hausverwaltung Becker", "my daughter",
             "the garage (parking space)"]

# Fictional securities: (name_de, name_en, kind, isin-country)
SECURITIES = [
    ("Elbstahl AG", "Elbstahl AG", "stock", "DE"),
    ("Hanseatic Solar SE", "Hanseatic Solar SE", "stock", "DE"),
    ("Nordlicht Pharma AG", "Nordlicht Pharma AG", "stock", "DE"),
    ("Alster Logistik AG", "Alster Logistik AG", "stock", "DE"),
    ("Weserwerft Holding AG", "Weserwerft Holding AG", "stock", "DE"),
    ("Rheinland Chemie AG", "Rheinland Chemie AG", "stock", "DE"),
    ("Harbour Tech Inc.", "Harbour Tech Inc.", "us", "US"),
    ("Pacific Semiconductor Corp.", "Pacific Semiconductor Corp.", "us", "US"),
    ("Cascade Consumer Brands Inc.", "Cascade Consumer Brands Inc.", "us", "US"),
    ("Global Equity Index ETF", "Global Equity Index ETF", "etf", "IE"),
    ("Europe Dividend Leaders ETF", "Europe Dividend Leaders ETF", "etf", "IE"),
    ("Emerging Markets Core ETF", "Emerging Markets Core ETF", "etf", "IE"),
    ("Nordic Clean Energy Fonds", "Nordic Clean Energy Fund", "fund", "LU"),
    ("Hansa Rentenfonds Global", "Hansa Global Bond Fund", "fund", "LU"),
    ("4,25 % Hanseatic Solar Anleihe 2024/2029", "4.25% Hanseatic Solar bond 2024/2029", "bond", "DE"),
    ("3,5 % Alster Logistik Anleihe 2023/2028", "3.5% Alster Logistik bond 2023/2028", "bond", "DE"),
    ("5 % Baltic Wind Energy Anleihe 2025/2030", "5% Baltic Wind Energy bond 2025/2030", "bond", "DE"),
]
ISSUERS = ["Elbstahl AG", "Hanseatic Solar SE", "Alster Logistik AG", "Baltic Wind Energy GmbH"]

MONTHS_DE = ["", "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
MONTHS_EN = ["", "January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
DAYS_DE = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
DAYS_DE_SHORT = ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."]
DAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DAYS_EN_SHORT = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

UMLAUT_MAP = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe",
                            "Ü": "Ue", "é": "e", "è": "e", "ç": "c", "ı": "i", "ş": "s",
                            "ğ": "g", "ø": "o", "å": "a"})


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.translate(UMLAUT_MAP).lower())


def berlin_offset(when: dt.datetime) -> dt.timezone:
    """Europe/Berlin offset for 2026 (DST from 29 March to 25 October)."""
    start, end = dt.datetime(2026, 3, 29, 2), dt.datetime(2026, 10, 25, 3)
    return dt.timezone(dt.timedelta(hours=2 if start <= when < end else 1))


def with_tz(naive: dt.datetime) -> dt.datetime:
    return naive.replace(tzinfo=berlin_offset(naive))


# ---------------------------------------------------------------------------------------------
# Personas and slots
# ---------------------------------------------------------------------------------------------

class Persona:
    def __init__(self, rng: random.Random, lang: str, lob: str, org: str | None = None):
        german = rng.random() < 0.9 if lang == "de" else rng.random() < 0.15
        if german:
            self.female = rng.random() < 0.5
            self.first = rng.choice(DE_FEMALE if self.female else DE_MALE)
            self.last = rng.choice(DE_LAST)
        else:
            self.female = rng.random() < 0.5
            self.first = rng.choice(EN_FEMALE if self.female else EN_MALE)
            self.last = rng.choice(EN_LAST)
        self.title = "Dr. " if rng.random() < 0.05 else ""
        self.name = f"{self.first} {self.last}"
        zip_, city = rng.choice(CITIES)
        self.street = f"{rng.choice(STREETS)} {rng.randint(1, 140)}{rng.choice(['', '', '', 'a', 'b'])}"
        self.zip, self.city = zip_, city
        self.phone = rng.choice([
            f"0151 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"+49 170 {rng.randint(1000000, 9999999)}",
            f"0176 / {rng.randint(10000000, 99999999)}",
            f"040 {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(10, 99)}",
            f"+49 (0)162 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"])
        self.company = self.company_slug = self.gf = self.role = None
        if lob == "business" and org == "association":
            self.company, self.company_slug, self.gf = rng.choice(ASSOCIATIONS)
            self.role = ("Kassenwartin" if self.female else "Kassenwart") if lang == "de" else "Treasurer"
        elif lob == "business":
            pool = COMPANIES_DE if lang == "de" else (COMPANIES_EN if rng.random() < 0.7 else COMPANIES_DE)
            self.company, self.company_slug, self.gf = rng.choice(pool)
            corporate = re.search(r"GmbH|KG|UG|SE\b|AG\b", self.company) is not None
            roles = [r for r in (ROLES_DE if lang == "de" else ROLES_EN)
                     if not (corporate and r.startswith("Inhaber")) and not (not corporate and r == "Prokurist")]
            self.role = rng.choice(roles)
            if self.role in ("Geschäftsführer", "Inhaber", "Prokurist") and self.female:
                self.role += "in"
            if self.role in ("Geschäftsführerin", "Inhaberin") and not self.female:
                self.role = self.role[:-2]
        f, ln = slug(self.first), slug(self.last)
        domain = rng.choice(["example.de", "example.de", "example.com", "example.org"])
        if lob == "business" and rng.random() < 0.35:
            local = rng.choice(["buchhaltung", "info", "office", "finance", "verwaltung"]) \
                if lang == "de" else rng.choice(["accounts", "finance", "office", "info"])
            self.email = f"{local}.{self.company_slug.replace('-', '')}@{domain}"
            self.shared_mailbox = True
        else:
            pattern = rng.choice([f"{f}.{ln}", f"{f}.{ln}", f"{f[0]}.{ln}", f"{f}{ln}{rng.randint(60, 99)}",
                                  f"{ln}.{f}", f"{f}_{ln}", f"{f}.{ln}{rng.randint(1, 9)}", f"{f[0]}{ln}"])
            self.email = f"{pattern}@{domain}"
            self.shared_mailbox = False
        # display form of the From header
        r = rng.random()
        if self.shared_mailbox:
            label = rng.choice([f"Buchhaltung | {self.company}" if lang == "de" else f"Accounts | {self.company}",
                                self.company, self.name])
            self.sender = f"{quote_display(label)} <{self.email}>"
        elif r < 0.08:
            self.sender = self.email
        elif r < 0.13:
            self.sender = f"{quote_display(f'{self.last}, {self.first}')} <{self.email}>"
        elif r < 0.18:
            self.sender = f"{quote_display(self.first)} <{self.email}>"
        else:
            self.sender = f"{quote_display(self.title + self.name)} <{self.email}>"

    def salutation(self, lang: str) -> str:
        if lang == "de":
            return f"Sehr geehrte Frau {self.title}{self.last}," if self.female else \
                f"Sehr geehrter Herr {self.title}{self.last},"
        return f"Dear {'Ms' if self.female else 'Mr'} {self.title}{self.last},"


def quote_display(name: str) -> str:
    if re.search(r'[(),.:;<>@\[\]"\\]', name):
        return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'
    return name


def fmt_money(value: float, lang: str, style: int, cents: bool = True) -> str:
    if not cents or (value == int(value) and style % 2 == 0):
        num_en = f"{round(value):,}"
        num_de = num_en.replace(",", ".")
        if lang == "de":
            return [f"{num_de} €", f"{num_de} Euro", f"{num_de},- €", f"{num_de} EUR"][style % 4]
        return [f"€{num_en}", f"EUR {num_en}", f"{num_en} euros", f"€{num_en}"][style % 4]
    num_en = f"{value:,.2f}"
    num_de = num_en.replace(",", "X").replace(".", ",").replace("X", ".")
    if lang == "de":
        return [f"{num_de} €", f"{num_de} EUR", f"EUR {num_de}", f"{num_de}€"][style % 4]
    return [f"€{num_en}", f"EUR {num_en}", f"{num_en} EUR", f"€ {num_en}"][style % 4]


def fmt_date(d: dt.date, lang: str, style: int) -> str:
    if lang == "de":
        return [f"{d.day:02d}.{d.month:02d}.", f"{d.day:02d}.{d.month:02d}.{d.year}",
                f"{d.day}. {MONTHS_DE[d.month]}", f"{d.day}.{d.month}."][style % 4]
    suffix = "th" if 11 <= d.day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d.day % 10, "th")
    return [f"{d.day} {MONTHS_EN[d.month]}", f"{MONTHS_EN[d.month]} {d.day}",
            f"{d.day:02d}/{d.month:02d}/{d.year}", f"the {d.day}{suffix} of {MONTHS_EN[d.month]}"][style % 4]


def business_day_before(when: dt.datetime, rng: random.Random, lo: int, hi: int) -> dt.date:
    d = (when - dt.timedelta(days=rng.randint(lo, hi))).date()
    while d.weekday() >= 5:
        d -= dt.timedelta(days=1)
    return d


def make_isin(rng: random.Random, country: str) -> str:
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    if country == "DE":
        return "DE000" + "".join(rng.choice(alnum) for _ in range(6)) + str(rng.randint(0, 9))
    if country == "US":
        return "US" + "".join(str(rng.randint(0, 9)) for _ in range(10))
    if country == "IE":
        return "IE00B" + "".join(rng.choice(alnum) for _ in range(6)) + str(rng.randint(0, 9))
    return "LU" + "".join(str(rng.randint(0, 9)) for _ in range(10))


class Ctx:
    """Fills ``{slot}`` placeholders; one value per slot name and message."""

    def __init__(self, rng: random.Random, lang: str, persona: Persona, when: dt.datetime,
                 sec_kind: str | None, isins: dict):
        self.rng, self.lang, self.p, self.when = rng, lang, persona, when
        self.sec_kind, self.isins = sec_kind, isins
        self.cache: dict[str, str] = {}
        self.money_style = rng.randint(0, 3)
        self.date_style = rng.choice([0, 0, 1, 1, 2, 3]) if lang == "de" else rng.choice([0, 0, 1, 2, 3])

    def get(self, key: str) -> str:
        if key not in self.cache:
            fn = SLOTS.get(key)
            if fn is None:
                raise KeyError(f"unknown slot {{{key}}}")
            self.cache[key] = fn(self)
        return self.cache[key]

    def fill(self, text: str) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: self.get(m.group(1)), text)

    # helpers
    def money(self, lo: float, hi: float, cents: bool = True, step: int = 0) -> str:
        if step:
            value = float(self.rng.randrange(int(lo), int(hi) + 1, step))
        else:
            value = round(self.rng.uniform(lo, hi), 2 if cents else 0)
        return fmt_money(value, self.lang, self.money_style, cents)

    def date(self, lo: int, hi: int) -> str:
        return fmt_date(business_day_before(self.when, self.rng, lo, hi), self.lang, self.date_style)

    def security(self):
        if "_sec" not in self.cache:
            kinds = {"bond": ("bond",), "etf": ("etf",), "us": ("us",), "fund": ("fund", "etf"),
                     None: ("stock", "stock", "us", "etf")}[self.sec_kind]
            kind = self.rng.choice(kinds)
            pool = [s for s in SECURITIES if s[2] == kind]
            self.cache["_sec"] = self.rng.choice(pool)
        return self.cache["_sec"]

    def price_value(self) -> float:
        if "_price" not in self.cache:
            self.cache["_price"] = round(self.rng.uniform(8, 420), 2)
        return self.cache["_price"]

    def qty_value(self) -> int:
        if "_qty" not in self.cache:
            self.cache["_qty"] = self.rng.choice([5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 100,
                                                  120, 150, 200, 250, 300, 400, 500])
        return self.cache["_qty"]


def _iban(ctx: Ctx) -> str:
    digits = "".join(str(ctx.rng.randint(0, 9)) for _ in range(20))
    if ctx.rng.random() < 0.3:
        return "DE" + digits
    iban = "DE" + digits
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


def _next_month_date(ctx: Ctx) -> dt.date:
    y, m = ctx.when.year, ctx.when.month + 1
    if m == 13:
        y, m = y + 1, 1
    return dt.date(y, m, 1)


def _prev_month(ctx: Ctx, back: int) -> int:
    return (ctx.when.month - 1 - back) % 12 + 1


def _street_typo(ctx: Ctx) -> str:
    street = ctx.get("street")
    name, _, num = street.rpartition(" ")
    i = ctx.rng.randint(1, max(1, len(name) - 3))
    typo = name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return f"{typo} {num}"


def _maiden(ctx: Ctx) -> str:
    pool = DE_LAST if ctx.lang == "de" else EN_LAST + DE_LAST[:10]
    choice = ctx.rng.choice(pool)
    while choice == ctx.p.last:
        choice = ctx.rng.choice(pool)
    return choice


def _colleague(ctx: Ctx, female_only: bool = False) -> tuple[str, str]:
    de = ctx.lang == "de" or ctx.rng.random() < 0.4
    female = True if female_only else ctx.rng.random() < 0.5
    if de:
        return ctx.rng.choice(DE_FEMALE if female else DE_MALE), ctx.rng.choice(DE_LAST)
    return ctx.rng.choice(EN_FEMALE if female else EN_MALE), ctx.rng.choice(EN_LAST)


def _colleague_slot(n: int, part: int, female: bool = True):
    def fn(ctx: Ctx) -> str:
        key = f"_coll{n}"
        if key not in ctx.cache:
            ctx.cache[key] = _colleague(ctx, female_only=female)
        return ctx.cache[key][part]
    return fn


def _money_slot(lo, hi, cents=True, step=0):
    return lambda ctx: ctx.money(lo, hi, cents, step)


def _sec_name(ctx: Ctx) -> str:
    s = ctx.security()
    return s[0] if ctx.lang == "de" else s[1]


def _sec_isin(ctx: Ctx) -> str:
    return ctx.isins[ctx.security()[0]]


def _price(ctx: Ctx, factor: float = 1.0) -> str:
    value = ctx.price_value() * factor
    return fmt_money(round(value, 2), ctx.lang, ctx.money_style | 1)


SLOTS = {
    "first": lambda c: c.p.first,
    "last": lambda c: c.p.last,
    "name": lambda c: c.p.name,
    "company": lambda c: c.p.company or "—",
    "role": lambda c: c.p.role or "Kassenwart",
    "phone": lambda c: c.rng.choice([f"0152 {c.rng.randint(1000, 9999)} {c.rng.randint(1000, 9999)}",
                                     f"+49 171 {c.rng.randint(1000000, 9999999)}",
                                     f"0160 {c.rng.randint(1000000, 9999999)}"]),
    "new_email": lambda c: f"{slug(c.p.first)}.{slug(c.p.last)}{c.rng.choice(['', '.mail', str(c.rng.randint(1, 99))])}@{c.rng.choice(['example.org', 'example.com', 'example.de'])}",
    "street": lambda c: f"{c.rng.choice(STREETS)} {c.rng.randint(1, 160)}",
    "zip": lambda c: c.cache.setdefault("_city", c.rng.choice(CITIES))[0],
    "city": lambda c: c.cache.setdefault("_city", c.rng.choice(CITIES))[1],
    "street_typo": _street_typo,
    "card4": lambda c: f"{c.rng.randint(0, 9999):04d}",
    "expiry": lambda c: f"{c.when.month:02d}/{c.when.year % 100:02d}",
    "iban": _iban,
    "iban2": _iban,
    "iban4": lambda c: f"{c.rng.randint(0, 9999):04d}",
    "amount": _money_slot(35, 2900),
    "amount2": _money_slot(300, 1400, cents=False, step=10),
    "big": _money_slot(3000, 48000, cents=False, step=50),
    "small": _money_slot(25, 400, cents=False, step=25),
    "fee": _money_slot(2.5, 39.9),
    "date": lambda c: c.date(1, 12),
    "date2": lambda c: c.date(14, 30),
    "date_future": lambda c: fmt_date((c.when + dt.timedelta(days=c.rng.randint(8, 30))).date(),
                                      c.lang, c.date_style),
    "next_month": lambda c: (f"1. {MONTHS_DE[_next_month_date(c).month]}" if c.lang == "de"
                             else c.rng.choice([f"1 {MONTHS_EN[_next_month_date(c).month]}",
                                                f"{MONTHS_EN[_next_month_date(c).month]} 1st"])),
    "next_month_name": lambda c: (MONTHS_DE if c.lang == "de" else MONTHS_EN)[_next_month_date(c).month],
    "month": lambda c: (MONTHS_DE if c.lang == "de" else MONTHS_EN)[_prev_month(c, 1)],
    "month2": lambda c: (MONTHS_DE if c.lang == "de" else MONTHS_EN)[_prev_month(c, 2)],
    "year": lambda c: "2025",
    "in_abroad": lambda c: c.cache.setdefault("_abroad", c.rng.choice(ABROAD_DE if c.lang == "de" else ABROAD_EN))[0],
    "to_abroad": lambda c: c.cache.setdefault("_abroad", c.rng.choice(ABROAD_DE if c.lang == "de" else ABROAD_EN))[1],
    "other_bank": lambda c: c.rng.choice(OTHER_BANKS if c.lang == "de" else OTHER_BANKS_EN),
    "n": lambda c: str(c.rng.randint(6, 48)),
    "invoice": lambda c: c.rng.choice([f"RE-2026-{c.rng.randint(100, 9999):04d}",
                                       f"{c.rng.randint(20260001, 20269999)}",
                                       f"INV-{c.rng.randint(10000, 99999)}"]),
    "ref": lambda c: c.rng.choice([f"MNDT-{c.rng.randint(100000, 999999)}",
                                   f"KD{c.rng.randint(10000000, 99999999)}",
                                   f"{c.rng.randint(1000, 9999)}-{c.rng.randint(100000, 999999)}"]),
    "creditor": lambda c: c.rng.choice(CREDITORS_DE if c.lang == "de" else CREDITORS_EN),
    "creditor_unknown": lambda c: c.rng.choice(CREDITORS_UNKNOWN),
    "payee": lambda c: c.rng.choice(PAYEES_EN),
    "police": lambda c: f"{c.rng.choice(['ST', 'HH', 'PK'])}/{c.rng.randint(100000, 999999)}/2026",
    "depot": lambda c: f"{c.rng.randint(100, 999)} {c.rng.randint(100, 999)} {c.rng.randint(100, 999)}",
    "deceased": lambda c: f"{c.rng.choice(DE_MALE if c.lang == 'de' else EN_MALE + DE_MALE[:8])} {c.p.last}",
    "maiden": _maiden,
    "first2": _colleague_slot(2, 0), "last2": _colleague_slot(2, 1),
    "first3": _colleague_slot(3, 0, female=False), "last3": _colleague_slot(3, 1, female=False),
    "security": _sec_name,
    "isin": _sec_isin,
    "issuer": lambda c: c.rng.choice(ISSUERS),
    "qty": lambda c: str(c.qty_value()),
    "qty2": lambda c: str(max(1, int(c.qty_value() * c.rng.uniform(0.3, 0.7)))),
    "qty_x10": lambda c: str(c.qty_value() * 10),
    "price": lambda c: _price(c),
    "price_low": lambda c: _price(c, c.rng.uniform(0.86, 0.95)),
    "price_high": lambda c: _price(c, c.rng.uniform(1.012, 1.045)),
    "order": lambda c: c.rng.choice([f"{c.rng.randint(10, 99)}{c.rng.randint(1000000, 9999999)}",
                                     f"NB26-{c.rng.randint(1000, 9999)}-{c.rng.randint(1000, 9999)}",
                                     f"{c.rng.randint(100, 999)}-{c.rng.randint(100000, 999999)}"]),
    "ticket": lambda c: c.rng.choice([f"NHB-{c.rng.randint(100000, 999999)}",
                                      f"2026{c.when.month:02d}{c.rng.randint(10, 28)}{c.rng.randint(100000, 999999)}"]),
    "custno": lambda c: f"{c.rng.randint(10000000, 99999999)}",
}


# ---------------------------------------------------------------------------------------------
# Hand-written client messages
# ---------------------------------------------------------------------------------------------
# Each entry: (line_of_business options, tone, subject options, text[, options]).
#  * line_of_business: "retail", "brokerage", "business" or several joined by "|" (drawn uniformly;
#    repeat a class to weight it).
#  * tone drives greeting / sign-off choices: formal, neutral, casual, angry, terse.
#  * subjects: alternatives joined by "|"; an empty alternative means an empty subject.
#  * options: {"q": queue override (a realistic routing exception), "sec": kind of security,
#    "org": "association" when a business client must be a club / association}.
# Paragraphs are separated by a blank line; {slots} are filled per message (see SLOTS).

TEMPLATES: dict[tuple[str, str], list[dict]] = defaultdict(list)


def add(topic: str, lang: str, entries: list[tuple]) -> None:
    for entry in entries:
        lob, tone, subjects, text = entry[:4]
        opts = entry[4] if len(entry) > 4 else {}
        TEMPLATES[(topic, lang)].append({
            "topic": topic, "lang": lang, "lobs": lob.split("|"), "tone": tone,
            "subjects": subjects.split("|"), "text": text, "q": opts.get("q"),
            "sec": opts.get("sec"), "org": opts.get("org")})


# --- card_replacement ------------------------------------------------------------------------
add("card_replacement", "de", [
    ("retail", "neutral", "Girocard verloren|Karte verloren – was nun?",
     "ich habe gestern Abend vermutlich im Bus meine Girocard verloren. In der App habe ich sie vorsorglich gesperrt, aber dort steht nicht, ob automatisch eine neue verschickt wird.\n\nBekomme ich eine neue Karte zugeschickt, und kostet das etwas?"),
    ("retail", "terse", "Diebstahl!!|Karte geklaut",
     "Meine Karte mit Endziffer {card4} wurde mir am {date} in der U-Bahn aus der Jackentasche gestohlen. Bitte sofort sperren und eine neue schicken. Anzeige bei der Polizei ist erstattet (Tagebuchnummer {police})."),
    ("retail", "formal", "Neue Bankkarte|Bitte um neue Karte",
     "hiermit möchte ich Ihnen mitteilen, dass meine Bankkarte nicht mehr richtig funktioniert. Der Geldautomat beim Einkaufszentrum in {city} hat sie zweimal wieder ausgegeben, und man sieht deutlich, dass der goldene Chip zerkratzt ist.\n\nIch bin 79 Jahre alt und mache kein Online-Banking. Wären Sie so freundlich, mir eine neue Karte mit der Post zu schicken? Meine Anschrift ist unverändert.\n\nFür Ihre Mühe bedanke ich mich im Voraus."),
    ("retail", "neutral", "Folgekarte Kreditkarte|Kreditkarte läuft ab",
     "meine Kreditkarte ist nur noch bis {expiry} gültig, eine neue habe ich aber bisher nicht bekommen. Bei meiner früheren Bank kam die Folgekarte immer von allein. Muss ich die bei Ihnen extra anfordern?\n\nIch bin ab dem {date_future} für drei Wochen verreist und bräuchte sie bis dahin."),
    ("business", "neutral", "Firmenkreditkarte beschädigt|Ersatz Firmenkarte Fr. {last2}",
     "die Firmenkreditkarte für unsere Mitarbeiterin {first2} {last2} (Endziffern {card4}) ist leider beim Öffnen des Briefes beschädigt worden – der Brieföffner ist mitten durch die Karte gegangen.\n\nBitte sperren Sie diese Karte und schicken Sie eine neue an unsere Geschäftsadresse. Das Limit soll unverändert bleiben."),
    ("retail", "casual", "Karte kaputt 🙈|kaputte Karte",
     "mein Hund hat meine Debitkarte angeknabbert 🙈 Kontaktlos geht gar nicht mehr und beim Einstecken klappt es nur jedes dritte Mal. Kann ich eine neue bekommen?\n\nUnd wenn ich schon schreibe: gibt es die Karte eigentlich auch in einer anderen Farbe?"),
    ("retail", "angry", "Wo bleibt meine Ersatzkarte?|Ersatzkarte nach 3 Wochen immer noch nicht da",
     "am {date2} habe ich telefonisch meine Karte sperren lassen, nachdem mir das Portemonnaie gestohlen wurde. Am Telefon hieß es, die neue Karte kommt in fünf bis sieben Tagen. Das ist jetzt fast drei Wochen her und es ist nichts angekommen, auch keine PIN.\n\nWurde die Karte überhaupt bestellt? Ich komme seitdem nur noch über Überweisungen an mein Geld, das ist auf Dauer kein Zustand.",
     {"q": "complaints"}),
    ("retail", "neutral", "Karte im Automaten geblieben|Notfall Kreditkarte",
     "ich bin gerade im Urlaub {in_abroad} und der Geldautomat hat meine Kreditkarte (Endziffern {card4}) eingezogen, sie kam einfach nicht mehr heraus. Die Bank vor Ort sagt, sie kann mir die Karte nicht zurückgeben.\n\nBitte sperren Sie die Karte. Gibt es eine Möglichkeit, kurzfristig eine Ersatzkarte ins Hotel zu bekommen? Ich bin noch bis zum {date_future} hier."),
    ("business", "formal", "Verlust Business-Debitkarte|Kartenverlust – Bitte um schriftliche Bestätigung",
     "unser Geschäftsführer hat am {date} auf einer Geschäftsreise seine Business-Debitkarte verloren. Die Karte wurde noch am selben Tag über die Sperrhotline gesperrt.\n\nFür unsere Versicherung benötigen wir eine kurze schriftliche Bestätigung der Sperrung mit Datum und Uhrzeit. Die neue Karte senden Sie bitte an: {company}, z. Hd. Herrn {last3}, {street}, {zip} {city}."),
    ("retail", "neutral", "Neue Karte wegen Namensänderung|Name auf der Karte",
     "nach meiner Hochzeit heiße ich jetzt {first} {last} (vorher {maiden}). Im Konto haben Sie den Namen bereits geändert, auf meiner Karte steht aber noch der alte Name. Im Ausland gab es deswegen beim Bezahlen schon zweimal Nachfragen.\n\nKönnen Sie mir eine neue Karte mit dem richtigen Namen ausstellen?"),
    ("retail|business", "terse", "Karte|",
     "Karte verloren, bitte sperren + neue zuschicken. Konto endet auf {iban4}."),
    ("retail|retail|business", "neutral", "Chip defekt|Karte wird nicht gelesen",
     "seit ein paar Tagen zeigt jedes Kartenterminal bei meiner Debitkarte „Karte nicht lesbar“ an. Kontaktlos bezahlen geht noch, aber sobald eine PIN verlangt wird, ist Schluss. Am Automaten kann ich gar kein Geld mehr abheben.\n\nIch vermute, die Karte ist defekt. Bitte schicken Sie mir eine neue – die PIN möchte ich gern behalten, wenn das geht."),
])
add("card_replacement", "en", [
    ("retail", "neutral", "Lost debit card|Lost card",
     "I think I lost my debit card last night somewhere between the restaurant and the taxi. I've frozen it in the app for now, but I'm not sure if that's enough or whether I need to cancel it properly.\n\nCould you send me a new one? I'm still at the same address."),
    ("retail", "terse", "URGENT - stolen card|Stolen wallet",
     "My wallet was stolen this morning at the central station. Please block my Visa card ending {card4} immediately and send a replacement. Police report number {police}."),
    ("retail", "neutral", "Card renewal|Credit card expiring {expiry}",
     "My credit card expires at the end of this month ({expiry}) and I haven't received a renewal yet. Has it already been sent?\n\nI have a few subscriptions running on it, so it would also help to know whether the card number will change."),
    ("retail", "neutral", "Card not working – chip damaged?|Broken card",
     "The chip on my card seems to be broken. Terminals keep saying \"card error\" unless I pay contactless, and the ATM refused it yesterday.\n\nCould you please issue a new card? Ideally I'd like to keep my current PIN."),
    ("business", "neutral", "Corporate card – employee leaving|Cancel card {card4} / new card for successor",
     "One of our employees, {first2} {last2}, left the company last week and has not returned her corporate card (ending {card4}). Please cancel that card with immediate effect.\n\nWe will also need a card for her successor, {first3} {last3}, with the same monthly limit. What do you need from us to order it?"),
    ("retail", "neutral", "Card swallowed by ATM|Emergency card?",
     "I'm currently travelling and an ATM {in_abroad} kept my card. I called the hotline and the card is blocked now, but I'm here for another two weeks.\n\nIs there any way to get an emergency card or a replacement sent to my hotel? I can give you the address."),
    ("retail", "formal", "New card for my mother|Replacement card – power of attorney",
     "I am writing on behalf of my mother, Mrs {last}, who is 86 years old. Her bank card was accidentally cut up when she was sorting out old cards at home, so she would need a new one sent to her home address.\n\nI hold a power of attorney for her account ({iban}), which should be on file with you. Please let me know if you need anything else from me."),
    ("retail", "casual", "wrong card??|new card",
     "hey, my new card arrived today but it's a debit card – I had a credit card before?? The old one expires next week. can you check what happened and send the right one pls"),
    ("business", "neutral", "Compromised company card|Fraudulent payments – card ending {card4}",
     "Our accountant noticed three payments on our company card (Business Mastercard ending {card4}) that nobody here made – all to an online shop {in_abroad}, {amount} in total.\n\nWe have blocked the card in the portal. Please issue a replacement card and let us know how we can dispute these charges."),
    ("retail", "angry", "Replacement card still not here|Where is my new card??",
     "I blocked my stolen card on {date2} and was told the new one would arrive within a week. It's been nearly three weeks now. Nothing in the post, no PIN letter, nothing.\n\nWas the card ever ordered? I need access to my money.",
     {"q": "complaints"}),
    ("retail", "neutral", "Name change – new card|Card with my new surname",
     "I recently got married and my surname has changed from {maiden} to {last}. You already updated the account, but my card still shows my old name. Could you issue a new card with my current name?"),
    ("retail|business", "terse", "|card",
     "lost my card. pls block and send new one. last digits {card4}"),
])

# --- card_payment_declined -------------------------------------------------------------------
add("card_payment_declined", "de", [
    ("retail", "angry", "Karte schon wieder abgelehnt!!!|Beschwerde: Karte abgelehnt",
     "Das ist jetzt das dritte Mal in diesem Monat, dass meine Karte an der Kasse abgelehnt wird, obwohl mehr als genug Geld auf dem Konto ist. Heute im Supermarkt mit vollem Einkaufswagen und einer Schlange hinter mir – extrem peinlich.\n\nIch erwarte eine vernünftige Erklärung, und zwar nicht die übliche Standard-Mail!",
     {"q": "complaints"}),
    ("retail", "neutral", "Kreditkarte im Ausland abgelehnt|Karte funktioniert im Urlaub nicht",
     "ich bin zurzeit {in_abroad} und kann seit heute Morgen mit meiner Kreditkarte nichts mehr bezahlen. Im Hotel und im Restaurant kam jeweils „Transaktion nicht autorisiert“.\n\nIst die Karte für das Ausland gesperrt? Ich habe vor der Reise nichts extra freigeschaltet, weil es beim letzten Urlaub auch so ging."),
    ("retail", "neutral", "Limit erhöhen|Kartenlimit für Autokauf",
     "ich möchte kommende Woche einen Gebrauchtwagen kaufen und die Anzahlung von {big} mit der Karte bezahlen. Bei einem Test heute wurde die Zahlung abgelehnt, ich vermute wegen des Tageslimits.\n\nKann man das Limit vorübergehend erhöhen, z. B. für eine Woche?"),
    ("retail", "neutral", "Abhebung nicht möglich|Geldautomat",
     "am {date} wollte ich am Automaten der {other_bank} in {city} {small} abheben. Der Automat hat den Vorgang abgebrochen mit „Vorgang nicht möglich – wenden Sie sich an Ihre Bank“.\n\nAm Kontostand kann es nicht liegen. Funktioniert die Karte an fremden Automaten überhaupt?"),
    ("retail|retail|business", "neutral", "Online-Zahlungen schlagen fehl|3D Secure",
     "Online-Zahlungen mit meiner Visa schlagen seit einer Woche fehl. Nach der Eingabe der Kartendaten müsste ja die Freigabe in der App kommen, die kommt aber nicht. Nach ein paar Minuten steht im Shop dann „Zahlung abgelehnt“.\n\nDie App habe ich schon neu installiert. Woran kann das liegen?"),
    ("business", "neutral", "Dringend: Firmenkreditkarte abgelehnt|Zahlung an Lieferanten abgelehnt – Karte {card4}",
     "bei unserer Firmenkreditkarte (Endziffern {card4}) wurde heute die Zahlung an einen Lieferanten über {big} abgelehnt. Das Monatslimit liegt laut Vertrag bei 15.000 €, und wir haben diesen Monat erst rund {amount} umgesetzt.\n\nBitte prüfen Sie das dringend, sonst liefert der Lieferant die Ware nicht aus."),
    ("retail|business", "terse", "Karte abgelehnt|Tankstelle",
     "Karte wird an der Tankstelle abgelehnt, zweimal probiert. Warum??"),
    ("retail", "formal", "Karte in der Apotheke nicht angenommen|Meine Bankkarte",
     "gestern wurde beim Bezahlen in der Apotheke meine Karte nicht angenommen. Die Verkäuferin meinte, ich hätte die falsche Geheimzahl eingegeben. Ich bin mir aber ganz sicher, dass die Zahl stimmt, ich benutze sie seit Jahren.\n\nIst die Karte nun gesperrt? Was muss ich tun, damit ich wieder bezahlen kann?"),
    ("retail", "casual", "zahlung geht nicht|abgelehnt??",
     "hallo ich hab versucht bei nem online shop zu zahlen und es kommt immer abgeleht. kontostand passt, karte ist auch nicht abgelaufen. was ist da los?? brauch das echt dringend heute noch"),
    ("business", "angry", "Firmenkarte erneut abgelehnt – Rückruf erbeten|Unzumutbar",
     "zum wiederholten Mal wurde unsere Firmenkarte beim Tanken abgelehnt, und unser Fahrer stand mit vollem Lkw an der Autobahnraststätte. Wir zahlen für das Geschäftskonto jeden Monat Gebühren und erwarten, dass die Karten funktionieren.\n\nIch bitte um einen Rückruf durch einen Verantwortlichen, nicht durch die Hotline.",
     {"q": "complaints"}),
    ("retail", "neutral", "Abo-Zahlung abgelehnt|Karte bei Abbuchung abgelehnt",
     "mein Streaming-Abo und der Beitrag fürs Fitnessstudio sind diesen Monat beide fehlgeschlagen, angeblich weil die Karte abgelehnt wurde. Im Laden funktioniert die Karte aber ganz normal.\n\nGibt es eine Einstellung für wiederkehrende Zahlungen, die ich übersehen habe?"),
])
add("card_payment_declined", "en", [
    ("retail", "neutral", "Card declined at supermarket|Card declined?",
     "My card was declined at the supermarket today even though there is more than {amount} in my account. It worked fine yesterday and I haven't changed any settings.\n\nIs there a problem with my card?"),
    ("retail", "neutral", "Card not working abroad|Can't withdraw cash",
     "I'm on holiday and my card isn't working at any ATM {in_abroad}. Every time I get \"transaction declined\".\n\nDo I need to enable the card for use outside the EU? I couldn't find a setting in the app."),
    ("retail", "neutral", "Daily limit|Temporary limit increase",
     "I'm trying to pay the deposit for a flat ({big}) by card, but the payment keeps getting declined. I assume it's the daily limit.\n\nCould you raise it temporarily for this week? I'd be happy to confirm by phone if needed."),
    ("retail", "angry", "Formal complaint – card blocked without notice|Card declined at the airport",
     "This is unacceptable. My card was declined at the airport check-in desk and I nearly missed my flight. The app just said \"security check\", but nobody called me or sent me anything.\n\nI would like a written explanation of why my card was blocked without any notice.",
     {"q": "complaints"}),
    ("retail|retail|business", "neutral", "Online payments failing|No approval request in app",
     "Online payments with my card keep failing. I never receive the push notification to approve the payment, and after a few minutes the shop says the payment was declined.\n\nI've already reinstalled the app and checked that notifications are on. Any idea?"),
    ("business", "neutral", "Corporate card declined – trade fair payment|Urgent: limit on card {card4}",
     "Our corporate card (ending {card4}) was declined this morning when we tried to pay for our trade fair stand ({big}). The organiser needs the payment by Friday.\n\nCould you either increase the limit on this card for this month or tell us what else we can do?"),
    ("retail|business", "terse", "card declined|",
     "card declined at petrol station twice today. account has money. pls check"),
    ("retail", "neutral", "Phone payment works, card doesn't|PIN problem?",
     "Strange problem: paying with my phone works fine, but when I insert the physical card and enter my PIN, the terminal says \"declined\". I'm sure the PIN is correct.\n\nCould the PIN be locked? How do I reset it?"),
    ("business", "neutral", "Employee card declined at hotel|Card declined – hotel deposit",
     "Our colleague {first2} {last2} is currently on a business trip and her company card was declined at the hotel reception when they tried to take the deposit ({amount}).\n\nCould you check whether there is a block on the card and call her back if necessary? She is at the hotel until Thursday."),
    ("retail", "angry", "Card declined AGAIN|",
     "Third time this month my card gets declined at the checkout. I have money in the account. I'm honestly fed up – what is going on with your cards? Fix it or I'm switching banks.",
     {"q": "complaints"}),
    ("retail", "casual", "gym payment failed|recurring payment declined",
     "hi, my gym membership and my music subscription both say my card was declined this month. the card works fine in shops though. is there a setting for recurring payments somewhere?"),
])

# --- transfer_status -------------------------------------------------------------------------
add("transfer_status", "de", [
    ("retail", "neutral", "Überweisung Miete nicht angekommen|Überweisung vom {date}",
     "am {date} habe ich {amount} an meinen Vermieter überwiesen (IBAN {iban2}, Verwendungszweck „Miete {month}“). Laut Vermieter ist das Geld nicht angekommen, bei mir ist der Betrag aber abgebucht.\n\nKönnen Sie bitte nachsehen, wo die Überweisung hängt?"),
    ("retail", "neutral", "Rücküberweisung – was bedeutet das?|Geld zurückgekommen",
     "eine Überweisung von mir über {amount} ist heute zurückgebucht worden, mit dem Vermerk „Rückgabe – Konto erloschen“. Die IBAN habe ich aber genau so vom Empfänger bekommen.\n\nWas bedeutet das genau? Und wird mir das Entgelt für die Rückbuchung auch erstattet?"),
    ("business", "neutral", "Zahlungsnachweis für Rechnung {invoice}|Lieferant mahnt – Überweisung vom {date}",
     "unser Lieferant hat uns heute eine Mahnung für die Rechnung {invoice} über {big} geschickt. Wir haben die Rechnung aber bereits am {date} von unserem Geschäftskonto überwiesen, im Online-Banking steht sie als ausgeführt.\n\nKönnen Sie uns eine Ausführungsbestätigung mit Referenz schicken, die wir an den Lieferanten weiterleiten können?"),
    ("retail", "neutral", "Auslandsüberweisung|Geld für meine Tochter",
     "ich habe am {date} meiner Tochter, die zurzeit {in_abroad} studiert, {amount} überwiesen. Sie hat das Geld bis heute nicht bekommen.\n\nWie lange dauern Auslandsüberweisungen bei Ihnen, und kann ich irgendwo sehen, wo das Geld gerade ist?"),
    ("retail", "neutral", "Gehalt nicht eingegangen|Gehaltseingang fehlt",
     "mein Gehalt für {month} ist noch nicht auf meinem Konto. Mein Arbeitgeber sagt, es wurde am {date} überwiesen, und bei den Kollegen ist es schon da.\n\nIst bei Ihnen vielleicht etwas hängen geblieben?"),
    ("retail", "neutral", "Falsche IBAN – Geld zurückholen?|Überweisung an falschen Empfänger",
     "mir ist ein dummer Fehler passiert: bei einer Überweisung über {amount} habe ich mich in der IBAN vertippt. Die Überweisung ist trotzdem rausgegangen und wurde nicht zurückgewiesen.\n\nKönnen Sie das Geld zurückholen? Die richtige IBAN wäre {iban2} gewesen."),
    ("business", "neutral", "Gehaltszahlungen hängen|Sammelüberweisung vom {date} in Bearbeitung",
     "die Gehaltszahlungen für unsere {n} Mitarbeiter, die wir am {date} als Sammelüberweisung freigegeben haben, stehen im Business-Banking immer noch auf „in Bearbeitung“. Sonst sind die Zahlungen immer am selben Tag raus.\n\nDie Mitarbeiter fragen schon nach. Bitte prüfen Sie das umgehend."),
    ("retail", "terse", "Echtzeitüberweisung??|",
     "Echtzeitüberweisung von heute früh über {amount}, ist beim Empfänger immer noch nicht da. Echtzeit??"),
    ("retail", "formal", "Überweisung an Handwerker|Mein Überweisungsauftrag per Post",
     "auf Anraten meines Enkels schreibe ich Ihnen. Ich habe Ihnen am {date} einen Überweisungsauftrag über {amount} für die Rechnung meines Malers per Post geschickt. Der Malermeister hat mich nun angerufen, das Geld sei bei ihm nicht eingegangen.\n\nIch bitte Sie höflich, zu prüfen, ob mein Auftrag bei Ihnen angekommen ist."),
    ("retail", "neutral", "Gutschrift fehlt|Erstattung der Versicherung nicht da",
     "meine Versicherung hat mir am {date} eine Erstattung über {amount} überwiesen, die Überweisungsbestätigung liegt mir vor. Auf meinem Konto ist bisher nichts gutgeschrieben.\n\nKönnen Sie nachsehen, ob die Zahlung bei Ihnen eingegangen ist?"),
    ("business", "angry", "Auslandszahlung seit 10 Tagen verschollen|Dritte Nachfrage Auslandszahlung",
     "seit zehn Tagen warten wir nun darauf, dass unsere Auslandszahlung über {big} an unseren Lieferanten {in_abroad} ankommt. Drei Anrufe, drei verschiedene Auskünfte. Inzwischen berechnet uns der Lieferant Verzugszinsen.\n\nIch erwarte bis morgen eine verbindliche Auskunft, wo das Geld ist.",
     {"q": "complaints"}),
])
add("transfer_status", "en", [
    ("retail", "neutral", "Rent transfer not received|Transfer on {date}",
     "I transferred {amount} to my landlord on {date} and he says he still hasn't received it. The money has left my account. Could you trace the payment? The reference was \"Rent {month}\"."),
    ("retail", "neutral", "International transfer – where is it?|Money to my family",
     "I sent money to my family a week ago ({amount}, to an account {in_abroad}) and it still hasn't arrived. How can I find out where it is? Is there a SWIFT reference or tracking number I could give them?"),
    ("business", "neutral", "Missing payment for invoice {invoice}|Customer payment not credited",
     "Our customer says they paid our invoice {invoice} ({big}) on {date}, but it hasn't been credited to our business account. They sent us their payment confirmation, which shows our correct IBAN ending {iban4}.\n\nCould you check whether the payment is pending somewhere on your side?"),
    ("retail", "neutral", "Transfer returned – AC04?|Returned payment",
     "A transfer I made on {date} came back today with the reason \"AC04\". What does that mean? I copied the IBAN directly from the invoice, so I'm not sure what went wrong."),
    ("retail", "neutral", "Instant transfer still pending|Instant payment pending for hours",
     "I used an instant transfer to pay a seller {amount} about two hours ago and it's still showing as pending in the app. Isn't it supposed to arrive within seconds? The seller won't ship until he has the money."),
    ("retail", "neutral", "Salary not arrived|Incoming payment missing",
     "My salary hasn't come in yet. My employer says it was sent on {date} and my colleagues at other banks already have theirs. Could you check if there's an incoming payment being held?"),
    ("retail|business", "terse", "transfer status|",
     "Transfer of {amount} to {iban2} on {date} – still not received by the recipient. Status?"),
    ("business", "neutral", "Bulk payment file – partially rejected|Payroll batch {date}",
     "We uploaded our payroll file on {date} ({n} payments). According to the portal, most of them were executed, but several are marked as \"rejected\" without any reason given.\n\nCould you tell us why, and whether we need to resubmit them? Our staff are waiting for their salaries."),
    ("retail", "neutral", "Sent money to the wrong account|Recall request",
     "I made a mistake on a transfer of {amount} – I entered one digit of the IBAN wrong and the payment still went through. Is it possible to recall it? The correct IBAN should have been {iban2}."),
    ("retail", "angry", "Deposit transfer missing for two weeks|Where is my money??",
     "It has now been two weeks and my transfer of {big} for the deposit on our house is still missing. Your hotline keeps telling me to \"wait a few more days\". If this money is lost, I will hold the bank responsible.",
     {"q": "complaints"}),
    ("business", "neutral", "Supplier says payment not received|Proof of payment – invoice {invoice}",
     "Please see the reminder from our supplier below. We paid invoice {invoice} ({big}) on {date} from our account with you. Could you send us proof of execution with the end-to-end reference so that we can forward it to them?\n\n> Dear customer,\n> according to our records, invoice {invoice} is still outstanding.\n> Please arrange payment within 7 days.\n> Accounts Receivable"),
])

# --- standing_order --------------------------------------------------------------------------
add("standing_order", "de", [
    ("retail", "neutral", "Dauerauftrag Miete ändern|Mieterhöhung – Dauerauftrag",
     "ab dem {next_month} beträgt meine Miete {amount} statt bisher {amount2}. Können Sie meinen Dauerauftrag an die Hausverwaltung entsprechend ändern, oder muss ich das selbst im Online-Banking machen? Ich habe die Stelle dafür nicht gefunden."),
    ("retail", "formal", "Löschung Dauerauftrag|Bitte Dauerauftrag beenden",
     "ich bitte Sie, meinen Dauerauftrag an den Tierschutzverein (monatlich 20,00 Euro) zum Monatsende zu löschen. Mit dem Computer komme ich leider nicht zurecht.\n\nBitte bestätigen Sie mir die Löschung kurz schriftlich."),
    ("retail", "neutral", "Lastschrift Fitnessstudio zurückgeben|Unberechtigte Lastschrift",
     "von meinem Konto wurden am {date} {amount} per Lastschrift von der {creditor} abgebucht, obwohl ich den Vertrag fristgerecht gekündigt habe.\n\nKann ich die Lastschrift zurückgeben? Und kann man Abbuchungen von diesem Gläubiger künftig sperren lassen?"),
    ("business", "neutral", "Dauerauftrag Lagermiete einrichten|Neuer Dauerauftrag Geschäftskonto",
     "bitte richten Sie für unser Geschäftskonto einen monatlichen Dauerauftrag ein:\n\nEmpfänger: Hausverwaltung Nordkai GmbH\nIBAN: {iban2}\nBetrag: {amount}\nVerwendungszweck: Miete Lager Halle 3\nErste Ausführung: {next_month}\n\nIm Online-Banking fehlt mir dafür die Berechtigung, ich bin nur für die Buchhaltung freigeschaltet."),
    ("retail", "neutral", "Dauerauftrag nicht ausgeführt|Miete diesen Monat nicht überwiesen",
     "mein Dauerauftrag für die Miete wurde diesen Monat nicht ausgeführt, meine Vermieterin hat sich heute gemeldet. Geld war genug auf dem Konto, und im Online-Banking ist der Dauerauftrag auch noch zu sehen.\n\nWarum wurde er nicht ausgeführt, und wird das automatisch nachgeholt?"),
    ("retail", "terse", "Dauerauftrag pausieren?|",
     "Wie kann ich einen Dauerauftrag für 2 Monate aussetzen? In der App finde ich nur „Löschen“."),
    ("retail", "neutral", "Kontowechsel – Lastschriften umziehen|Kontowechselservice",
     "ich habe mein Gehaltskonto jetzt zu Ihnen umgezogen. Wie bekomme ich die ganzen Lastschriften (Strom, Handy, Versicherungen) und Daueraufträge von meinem alten Konto zu Ihnen? Gibt es dafür einen Kontowechselservice, oder muss ich alle Firmen selbst anschreiben?"),
    ("business", "formal", "Widerruf Lastschriftmandat|Firmenlastschrift – Mandat widerrufen",
     "wir widerrufen hiermit das SEPA-Firmenlastschriftmandat zugunsten der {creditor} (Mandatsreferenz {ref}). Die Geschäftsbeziehung wurde zum {date} beendet.\n\nBitte stellen Sie sicher, dass künftige Lastschriften dieses Gläubigers von unserem Konto nicht mehr eingelöst werden."),
    ("retail", "casual", "Sparplan aufs Tagesgeld|automatisch sparen",
     "ich würde gern jeden Monat automatisch 150 € von meinem Girokonto auf mein Tagesgeldkonto bei Ihnen schieben, immer am Monatsanfang. Geht das als Dauerauftrag zwischen meinen eigenen Konten?"),
    ("retail", "neutral", "Ausführungstag ändern|Dauerauftrag vom 1. auf den 15.",
     "kann ich meinen Dauerauftrag an die Krankenkasse vom 1. auf den 15. des Monats verschieben? Mein Gehalt kommt seit dem Jobwechsel erst zur Monatsmitte, und ich rutsche sonst jedes Mal ins Minus."),
    ("business", "neutral", "Lastschriften Lieferant falsch|Lastschrift zurückgeben – Geschäftskonto",
     "ein Lieferant hat diesen Monat zweimal per Lastschrift von unserem Geschäftskonto abgebucht, einmal {amount} und einmal {amount2}, obwohl nur eine Rechnung offen war. Wir möchten die zweite Lastschrift zurückgeben. Geht das bei Firmenlastschriften überhaupt, und wenn ja, bis wann?"),
])
add("standing_order", "en", [
    ("retail", "neutral", "Change standing order amount|Rent increase",
     "My rent goes up to {amount} from {next_month}. How do I change the amount of my monthly standing order? I can only see the option to delete it in the app."),
    ("retail", "neutral", "Cancel direct debit|Stop direct debit from {creditor}",
     "Please cancel the direct debit from {creditor}. I terminated my contract with them at the end of last month, but they took {amount} again on {date}.\n\nCan I also get that last payment back?"),
    ("business", "neutral", "Recurring payment – office rent|New standing order for our business account",
     "We need to set up a recurring monthly payment of {amount} to our new office landlord, starting {next_month}. Details:\n\nPayee: Harbour Estates GmbH\nIBAN: {iban2}\nReference: Office rent 3rd floor\n\nOur finance manager is on leave and I don't have approval rights in the portal. Can this be done by e-mail with a signed form?"),
    ("retail", "neutral", "Standing order not executed|Rent not paid this month",
     "My standing order for the rent wasn't executed on the 1st. There was enough money in the account and the order is still listed in online banking. My landlord is asking where the money is. Why didn't it go out, and will it be retried automatically?"),
    ("retail", "casual", "monthly transfer to my son|standing order setup",
     "hi, I'd like to send my son {small} every month for his apprenticeship, starting next month. He banks with {other_bank}. Is a standing order the right thing for this and can I set it up in the app?"),
    ("retail", "terse", "stop standing order|",
     "Please stop the standing order to {payee}, ref {ref}, from next month. Thanks"),
    ("retail", "neutral", "Unknown direct debit|Direct debit I never authorised",
     "There's a direct debit on my account from a company called {creditor_unknown} for {amount}. I have never heard of them and I certainly never signed a mandate.\n\nHow do I get the money back, and can you block any further debits from them?"),
    ("business", "neutral", "Direct debit whitelist|Restrict direct debits on business account",
     "Is it possible to restrict direct debits on our business account to a list of approved creditors? We had two incorrect debits from suppliers this quarter and would like to prevent this in future."),
    ("retail", "neutral", "Switching my account to you|Moving direct debits",
     "I've just opened my current account with you and want to move everything over from my old bank. Is there an account switching service that moves my standing orders and direct debits, or do I have to contact each company myself?"),
    ("retail", "neutral", "Pause standing order|Standing order – skip two months",
     "I'm going abroad for two months and would like to pause my standing order to my savings account for July and August without deleting it. Is that possible?"),
    ("business", "formal", "Revocation of direct debit mandate|B2B mandate – {creditor}",
     "We hereby revoke the SEPA business-to-business direct debit mandate in favour of {creditor} (mandate reference {ref}). Our contract with them ended on {date}.\n\nPlease make sure that no further debits from this creditor are honoured on our account."),
])

# --- address_change --------------------------------------------------------------------------
add("address_change", "de", [
    ("retail", "neutral", "Neue Adresse|Umzug",
     "zum {date} bin ich umgezogen. Meine neue Anschrift lautet:\n\n{street}\n{zip} {city}\n\nBitte ändern Sie die Adresse für mein Girokonto und auch für die Kreditkarte."),
    ("retail", "formal", "Mitteilung meiner neuen Anschrift|Anschriftenänderung",
     "hiermit teile ich Ihnen mit, dass ich in eine Seniorenwohnanlage umgezogen bin. Meine neue Anschrift lautet: {street}, {zip} {city}.\n\nBitte senden Sie mir die Kontoauszüge und alle Schreiben künftig an diese Adresse. Telefonisch bin ich weiterhin unter meiner alten Nummer zu erreichen."),
    ("retail", "neutral", "Namensänderung nach Heirat|Neuer Nachname",
     "ich habe im {month} geheiratet und heiße jetzt {first} {last} (vorher {maiden}). Eine Kopie der Heiratsurkunde schicke ich mit.\n\nBitte ändern Sie meinen Namen bei allen Konten. Bekomme ich dann automatisch eine neue Karte?"),
    ("retail|brokerage", "neutral", "Neue Handynummer|Telefonnummer ändern",
     "ich habe eine neue Handynummer: {phone}. Die alte Nummer gibt es nicht mehr. Bitte hinterlegen Sie die neue Nummer, damit mich Ihre SMS wieder erreichen."),
    ("business", "formal", "Sitzverlegung|Neue Geschäftsanschrift",
     "wir möchten Ihnen mitteilen, dass unser Unternehmen umgezogen ist. Die neue Geschäftsanschrift lautet ab dem {date}:\n\n{company}\n{street}\n{zip} {city}\n\nDen aktuellen Handelsregisterauszug reichen wir nach, sobald die Eintragung erfolgt ist. Bitte ändern Sie außerdem die Ansprechpartnerin für das Konto: zuständig ist jetzt Frau {first2} {last2} aus der Buchhaltung."),
    ("retail|brokerage", "casual", "Neue Mailadresse|E-Mail ändern",
     "kurze Info: meine E-Mail-Adresse ändert sich, bitte ab sofort {new_email} verwenden. Die alte Adresse wird Ende des Monats gelöscht."),
    ("brokerage", "neutral", "Adresse Depot|Post zum Depot geht an alte Adresse",
     "im Girokonto habe ich meine neue Adresse schon online geändert, aber die Post zu meinem Wertpapierdepot (Depotnummer {depot}) kommt immer noch an die alte Anschrift, zuletzt die Einladung zur Hauptversammlung. Bitte stellen Sie auch das Depot auf {street}, {zip} {city} um."),
    ("retail", "neutral", "Umzug ins Ausland|Adressänderung Ausland",
     "ich ziehe beruflich {to_abroad} und möchte mein Konto bei Ihnen behalten. Was muss ich bei der Adressänderung beachten? Reicht es, die neue Anschrift im Online-Banking einzutragen, oder brauchen Sie weitere Unterlagen, z. B. eine Meldebescheinigung?"),
    ("retail", "terse", "Adressänderung|",
     "Neue Adresse ab sofort: {street}, {zip} {city}. Danke."),
    ("retail", "neutral", "Post kommt zurück|Brief an alte Adresse",
     "heute habe ich erfahren, dass ein Brief von Ihnen an meine alte Adresse ging und als unzustellbar zurückkam. Ich dachte, ich hätte die Adresse bei meinem Umzug im {month2} geändert, offenbar hat das nicht geklappt.\n\nMeine aktuelle Anschrift: {street}, {zip} {city}. Können Sie mir den Brief bitte noch einmal schicken?"),
    ("business", "neutral", "Umfirmierung|Neuer Firmenname – Kontobezeichnung",
     "unsere Firma ist umfirmiert, der neue Name lautet {company}. Rechtsform, Anschrift und Steuernummer bleiben gleich. Den neuen Handelsregisterauszug lade ich im Anhang hoch.\n\nBitte passen Sie die Kontobezeichnung an. Müssen die Firmenkarten deswegen neu ausgestellt werden?"),
])
add("address_change", "en", [
    ("retail", "neutral", "Change of address|New address",
     "I've moved. My new address is:\n\n{street}\n{zip} {city}\n\nPlease update it for all my accounts, including the credit card."),
    ("retail", "neutral", "Name change after marriage|New surname",
     "I got married last month and my surname has changed from {maiden} to {last}. What documents do you need from me to update my account? I have the marriage certificate in German and English."),
    ("retail|brokerage", "neutral", "New mobile number|Phone number update",
     "I have a new mobile number: {phone}. The old one has been disconnected, so please use the new one from now on."),
    ("business", "formal", "Registered office relocation|Change of business address",
     "Please note that our registered office has moved. With effect from {date}, our address is:\n\n{company}\n{street}\n{zip} {city}\n\nAn updated extract from the commercial register will follow as soon as we receive it. Please update your records for all our accounts."),
    ("brokerage", "neutral", "Address on securities account|Post for my depot",
     "I updated my address in online banking a few weeks ago, but letters regarding my securities account (no. {depot}) are still going to my old address. Could you update the depot as well? New address: {street}, {zip} {city}."),
    ("retail", "neutral", "Moving abroad|Relocating – keeping my account",
     "I'm relocating {to_abroad} for work at the end of {next_month_name}. I'd like to keep my account open. What do I need to do to change my address to a foreign one, and is that even possible?"),
    ("retail|brokerage", "terse", "email change|",
     "please update my email address to {new_email}. thx"),
    ("retail", "neutral", "Typo in my address|Wrong street name",
     "I noticed that the street name in my address is misspelled on your letters – it says \"{street_typo}\" instead of \"{street}\". The post still arrives, but could you correct it please?"),
    ("retail|brokerage", "formal", "Academic title|Title on correspondence",
     "I have recently completed my doctorate and would be grateful if you could add the title \"Dr.\" to my name in your records and on future correspondence. I can provide a copy of the certificate if required."),
    ("business", "neutral", "Company name change|New company name",
     "Following our merger, our company now trades as {company}. The legal entity and address are unchanged. I've attached the updated commercial register extract. Please change the account holder name accordingly and let us know if our cards need to be reissued."),
])

# --- account_statement -----------------------------------------------------------------------
add("account_statement", "de", [
    ("retail", "neutral", "Kontoauszüge für Kreditantrag|Auszüge mit Stempel",
     "für einen Kreditantrag bei einer anderen Bank brauche ich die Kontoauszüge der letzten drei Monate, möglichst mit Bankstempel. Können Sie mir die zuschicken? Als PDF aus dem Postfach werden sie dort leider nicht akzeptiert."),
    ("retail", "formal", "Keine Kontoauszüge mehr|Kontoauszüge per Post",
     "seit {month2} erhalte ich keine Kontoauszüge mehr per Post. Früher kamen sie jeden Monat. Ich habe keinen Computer und möchte meine Auszüge weiterhin auf Papier haben.\n\nBitte schicken Sie mir die fehlenden Auszüge zu."),
    ("retail", "neutral", "Kontostandsbestätigung|Nachweis Kontostand",
     "die Ausländerbehörde verlangt von mir eine Bestätigung über meinen aktuellen Kontostand (Finanzierungsnachweis für das Visum meiner Frau). Können Sie mir so etwas ausstellen, am besten auf Deutsch und Englisch?"),
    ("business", "formal", "Saldenbestätigung 31.12.2025|Jahresabschluss – Saldenbestätigung",
     "für den Jahresabschluss zum 31.12.2025 benötigt unser Steuerberater eine Saldenbestätigung für alle Geschäftskonten der {company} sowie eine Zinsbescheinigung für das Geschäftsjahr. Bitte senden Sie die Unterlagen direkt an uns, gern auch per Post."),
    ("brokerage", "formal", "Depotauszug zum Todestag|Depotauszug für Erbschaftsteuer",
     "für die Erbschaftsteuererklärung benötige ich einen Depotauszug zum {date2} (Todestag meines Vaters) mit den Kurswerten aller Positionen. Der Erbschein liegt Ihnen bereits vor.",
     {"q": "securities"}),
    ("retail|business", "neutral", "Auszug fehlt im Postfach|Kontoauszug {month}",
     "in meinem Postfach fehlt der Kontoauszug für {month}. Für {month2} ist einer da, für den Monat danach nicht. Können Sie den bitte nachträglich einstellen?"),
    ("retail", "terse", "Kontoauszug|",
     "Brauche Kontoauszug {month} als PDF. Finde ihn nicht in der App."),
    ("business", "neutral", "Kontoauszüge im CAMT-Format|Export für Buchhaltung",
     "wir benötigen unsere Kontoauszüge im CAMT.053- oder MT940-Format für unsere Buchhaltungssoftware. Bisher bekommen wir nur PDFs. Kann man das im Business-Banking irgendwo umstellen?"),
    ("retail", "neutral", "Beleg für Überweisung|Nachweis Zahlung vom {date}",
     "für meine Versicherung brauche ich einen Beleg über eine Überweisung vom {date} über {amount}. Auf dem normalen Kontoauszug ist der Verwendungszweck abgeschnitten. Können Sie mir eine Einzelbestätigung ausstellen?"),
    ("brokerage", "neutral", "Jahresdepotauszug|Depotauszug 31.12. fehlt",
     "könnten Sie mir den Jahresdepotauszug zum 31.12. noch einmal zuschicken? Im Postfach finde ich nur die Umsatzübersicht des Verrechnungskontos.",
     {"q": "securities"}),
    ("business", "neutral", "Kopie Kontoauszüge Q3|Auszüge für Betriebsprüfung",
     "für eine Betriebsprüfung brauchen wir Kopien aller Kontoauszüge unseres Geschäftskontos von Juli bis September 2025. Im Online-Banking reicht die Historie leider nicht so weit zurück. Was kostet das, und wie lange dauert es?"),
])
add("account_statement", "en", [
    ("retail", "neutral", "Bank statements for visa application|Statements in English",
     "For my visa application I need bank statements for the last six months, ideally stamped and in English. Is that something you can provide? The embassy doesn't accept the normal PDFs."),
    ("retail|business", "neutral", "Missing statement|Statement not in postbox",
     "I can't find my account statement for {month} in the postbox. All the other months are there. Could you upload it again or send it to me by e-mail?"),
    ("business", "formal", "Balance confirmation for auditors|Audit confirmation 31 Dec 2025",
     "Our auditors require a bank confirmation of balances as of 31 December 2025 for all accounts held by {company}, including any loans and guarantees. Please send it directly to us; the auditors' request form will follow by post."),
    ("retail", "formal", "Paper statements|Statements by post",
     "I would prefer to receive my statements by post rather than online, as I am not comfortable with the computer. Could you please arrange this for me and send me the statements for the last three months?"),
    ("brokerage", "neutral", "Portfolio statement as of year-end|Depot statement 31/12",
     "My tax adviser needs a statement of my securities account as of 31 December with the market values of all positions. I could only find the transaction list in the postbox. Where can I get this?",
     {"q": "securities"}),
    ("retail", "neutral", "Proof of address / bank letter|Bank reference letter",
     "My new landlord wants a letter from my bank confirming my account and address. Could you send me something like that, or is a statement enough?"),
    ("retail", "terse", "statement|",
     "need my statement for {month} as PDF pls, can't find it in the app"),
    ("business", "neutral", "MT940 export|Statements in MT940/CAMT format",
     "Is it possible to receive our account statements in MT940 or CAMT.053 format? We just switched accounting software and it cannot import the PDF statements."),
    ("retail", "neutral", "Confirmation of a donation|Payment confirmation for tax office",
     "I made a donation of {amount} on {date} to a local charity. They don't issue receipts for small amounts, and the tax office accepts a bank confirmation instead. Could you issue a confirmation of that payment for me?"),
    ("brokerage", "neutral", "Old contract notes|Copies of securities statements 2023",
     "I need copies of my contract notes and the year-end portfolio statements for 2023 for a tax audit. The online postbox only goes back two years for me. Can you send them?",
     {"q": "securities"}),
])

# --- tax_certificate -------------------------------------------------------------------------
add("tax_certificate", "de", [
    ("brokerage", "neutral", "Jahressteuerbescheinigung {year}|Steuerbescheinigung fehlt",
     "wo finde ich die Jahressteuerbescheinigung für {year}? Im Postfach liegt nur die Erträgnisaufstellung. Meine Steuerberaterin braucht die Bescheinigung bis Ende des Monats."),
    ("retail", "neutral", "Freistellungsauftrag erhöhen|Freistellungsauftrag",
     "ich möchte meinen Freistellungsauftrag bei Ihnen auf den vollen Betrag von 1.000 € erhöhen. Bei meiner anderen Bank habe ich den Auftrag aufgelöst. Geht das per E-Mail, oder muss ich ein Formular ausfüllen?"),
    ("brokerage", "neutral", "Verlustverrechnung fehlerhaft?|Abgeltungsteuer trotz Verlusten",
     "in meiner Steuerbescheinigung für {year} wurden die Verluste aus dem Verkauf im Juni offenbar nicht verrechnet. Ich habe damals mit rund {amount} Verlust verkauft und später Gewinne realisiert, trotzdem wurde Abgeltungsteuer einbehalten.\n\nKönnen Sie das prüfen und gegebenenfalls eine korrigierte Bescheinigung ausstellen?"),
    ("retail|brokerage", "neutral", "Gemeinsamer Freistellungsauftrag|Freistellungsauftrag nach Heirat",
     "meine Frau und ich haben im Herbst geheiratet. Können wir jetzt einen gemeinsamen Freistellungsauftrag über 2.000 € stellen, obwohl wir bei Ihnen getrennte Konten haben?"),
    ("brokerage", "neutral", "NV-Bescheinigung|Nichtveranlagungsbescheinigung einreichen",
     "ich studiere und habe vom Finanzamt eine Nichtveranlagungsbescheinigung bekommen. Wohin muss ich die schicken, damit für mein Depot keine Steuern mehr abgezogen werden? Reicht ein Scan?"),
    ("business", "formal", "Kapitalertragsteuer Vereinskonto|Freistellung gemeinnütziger Verein",
     "unser Verein ist als gemeinnützig anerkannt. Trotzdem wird auf die Zinsen unseres Vereinssparkontos Kapitalertragsteuer einbehalten. Der aktuelle Freistellungsbescheid des Finanzamts liegt vor.\n\nBitte teilen Sie uns mit, wie wir den Bescheid einreichen und ob die bereits einbehaltene Steuer erstattet werden kann.",
     {"org": "association"}),
    ("brokerage", "neutral", "Quellensteuer US-Dividenden|Anrechenbare Quellensteuer",
     "in der Steuerbescheinigung {year} steht bei „anrechenbare ausländische Quellensteuer“ null, obwohl auf meine US-Dividenden Quellensteuer abgezogen wurde. Muss ich noch ein Formular (W-8BEN?) ausfüllen, damit das richtig berücksichtigt wird?"),
    ("retail", "terse", "Steuerbescheinigung Tagesgeld|",
     "Brauche die Steuerbescheinigung {year} fürs Tagesgeld. Wo finde ich die?"),
    ("brokerage", "angry", "Kirchensteuer trotz Austritt|Falsche Kirchensteuer",
     "Sie ziehen mir auf meine Kapitalerträge immer noch Kirchensteuer ab, obwohl ich seit über zwei Jahren aus der Kirche ausgetreten bin! Die Austrittsbescheinigung habe ich Ihnen schon einmal geschickt.\n\nIch erwarte eine Korrektur und eine neue Steuerbescheinigung für {year}."),
    ("brokerage|retail", "formal", "Steuerbescheinigung für Steuerberaterin|Kopie Steuerbescheinigung",
     "meine Steuerberaterin, Frau {last2}, vermisst für meine Einkommensteuererklärung {year} die Steuerbescheinigung. Könnten Sie ihr eine Kopie zusenden? Eine entsprechende Vollmacht füge ich bei."),
])
add("tax_certificate", "en", [
    ("brokerage", "neutral", "Annual tax certificate {year}|Where is my tax certificate?",
     "Where can I find my annual tax certificate for {year}? I only see the income statement in my postbox, and my tax adviser needs the certificate for my return."),
    ("retail", "neutral", "Exemption order – how?|Freistellungsauftrag",
     "I'm new to Germany and a colleague told me I should set up a \"Freistellungsauftrag\" so that I don't pay tax on my savings interest. How do I do that with you, and what amount should I enter?"),
    ("brokerage", "neutral", "Capital gains tax despite losses|Loss offset not applied",
     "Tax was withheld on my gains in {year} even though I realised larger losses earlier in the year. My understanding is that the bank should offset them automatically. Could you check this and issue a corrected certificate if necessary?"),
    ("brokerage", "neutral", "Non-resident – withholding tax|Tax residency change",
     "I have moved {to_abroad} and am no longer tax resident in Germany. German withholding tax is still being deducted from my dividends and interest. Which form do I need to submit to stop this?"),
    ("retail", "neutral", "Joint exemption order with my wife|Joint Freistellungsauftrag",
     "My wife and I got married in {month2}. Can we now submit a joint exemption order for 2,000 euros? We each have our own account with you."),
    ("brokerage", "neutral", "Corrected tax certificate?|Tax certificate – corrected version",
     "I received a letter saying that a corrected tax certificate for {year} would be issued because of a reclassification of a fund distribution. It's been six weeks and I haven't received it. My tax return is due soon."),
    ("business", "neutral", "Tax certificate for our company accounts|Capital gains tax certificate – GmbH",
     "Our accountant needs the certificate of capital gains tax withheld on the interest from our company savings account for {year}, so that it can be credited in our corporate tax return. Could you send it to us?"),
    ("retail|brokerage", "terse", "tax certificate|",
     "tax cert {year} please. can't find it anywhere."),
    ("brokerage", "neutral", "US withholding tax / W-8BEN|Withholding tax on US dividends",
     "My tax certificate shows 0 creditable foreign withholding tax, but 15% was withheld on my US dividends. Do I need to submit a W-8BEN form, or is there another problem?"),
    ("brokerage", "formal", "Church tax deducted|Church tax",
     "I left the church two years ago, yet church tax is still deducted from my investment income. Please correct this and issue a new tax certificate for {year}. I can send you the confirmation of withdrawal again."),
])

# --- online_banking_access -------------------------------------------------------------------
add("online_banking_access", "de", [
    ("retail|brokerage", "neutral", "Neues Handy – TAN-App|TAN-App aktivieren",
     "ich habe ein neues Handy und bekomme die TAN-App nicht aktiviert. Das alte Gerät habe ich leider schon zurückgesetzt und verkauft, deshalb kann ich dort nichts mehr bestätigen.\n\nWie komme ich jetzt wieder an meine TANs?"),
    ("retail", "neutral", "Zugang gesperrt|Online-Banking gesperrt",
     "ich habe mein Passwort dreimal falsch eingegeben und jetzt ist mein Zugang gesperrt. Wie kann ich ihn wieder entsperren? Ich müsste bis Freitag eine Rechnung bezahlen."),
    ("retail", "formal", "Online-Banking|Probleme mit der Anmeldung",
     "meine Enkelin hat mir im letzten Jahr das Online-Banking eingerichtet. Jetzt verlangt die Seite bei der Anmeldung plötzlich eine neue PIN, und ich weiß nicht, welche ich nehmen soll. Meine Enkelin wohnt leider nicht mehr in der Nähe.\n\nKönnen Sie mir bitte erklären, was ich tun muss?"),
    ("business", "neutral", "Zugang für neue Mitarbeiterin|Benutzer anlegen Business-Banking",
     "wir möchten einer neuen Mitarbeiterin in der Buchhaltung, Frau {first2} {last2}, Zugriff auf unser Geschäftskonto geben. Sie soll Zahlungen erfassen, aber nicht freigeben können.\n\nWie richten wir das ein, und welche Unterlagen brauchen Sie von uns?"),
    ("brokerage", "angry", "Depot in der App nicht erreichbar!|Fehler 503 Depot",
     "seit dem letzten Update der App komme ich nicht mehr in meine Depotübersicht, es erscheint nur „Fehler 503“. Ins Girokonto komme ich ganz normal. Ich wollte heute noch verkaufen!\n\nWann ist das behoben?"),
    ("retail", "neutral", "Aktivierungsbrief nicht angekommen|Brief für Online-Banking fehlt",
     "der Aktivierungsbrief für das Online-Banking ist nach zwei Wochen immer noch nicht bei mir angekommen. Können Sie prüfen, an welche Adresse er geschickt wurde, und mir ggf. einen neuen schicken?"),
    ("retail|brokerage", "terse", "login geht nicht|",
     "login geht nicht. kommt immer \"Benutzerkennung unbekannt\". ???"),
    ("retail", "angry", "Seit 5 Tagen ausgesperrt|Zugang immer noch gesperrt – Beschwerde",
     "ich bin jetzt seit fünf Tagen aus meinem Online-Banking ausgesperrt. Die Hotline ist dauerbesetzt, und auf meine Mail vom {date} kam nur eine automatische Antwort. Ich kann weder Rechnungen bezahlen noch sehen, was auf meinem Konto passiert.\n\nSo geht man nicht mit Kunden um.",
     {"q": "complaints"}),
    ("retail", "neutral", "Verdächtige SMS – Daten eingegeben|Phishing?",
     "ich habe heute eine SMS bekommen, angeblich von Ihnen, dass mein Zugang gesperrt wird, wenn ich nicht über einen Link meine Daten bestätige. Ich habe das leider gemacht und meine Zugangsdaten eingegeben. Jetzt komme ich nicht mehr ins Online-Banking.\n\nBitte sperren Sie sofort alles und sagen Sie mir, was ich tun soll!"),
    ("business", "neutral", "FinTS-Verbindung gestört|Buchhaltungssoftware verbindet nicht",
     "seit gestern kann sich unsere Buchhaltungssoftware nicht mehr per FinTS mit unserem Geschäftskonto verbinden, die Fehlermeldung lautet „Zugang gesperrt (9931)“. Im Browser funktioniert der Login. Hat sich bei Ihnen etwas an der Schnittstelle geändert?"),
    ("retail|business", "neutral", "SMS-TAN kommt nicht an|Keine TAN im Ausland",
     "ich bin beruflich {in_abroad} und bekomme seit drei Tagen keine SMS mit der TAN mehr. Zu Hause hat es immer funktioniert. Kann man auf ein anderes Verfahren umstellen, ohne dass ein Brief nach Deutschland geschickt werden muss?"),
])
add("online_banking_access", "en", [
    ("retail|brokerage", "neutral", "New phone – TAN app|Can't activate TAN app",
     "I got a new phone and can't activate the TAN app on it. I already wiped the old phone, so I can't confirm anything there.\n\nHow do I get access back? I need to pay a bill this week."),
    ("retail", "neutral", "Password reset letter|Reset letter sent to old address",
     "I requested a password reset, but I think the activation letter was sent to my old address – I moved in {month2}. Could you send a new one to my current address?"),
    ("retail|brokerage", "neutral", "Account locked|Locked out of online banking",
     "I entered my password wrong too many times and now my online banking is locked. How can I unlock it? I'm travelling and won't be home to receive letters for two weeks."),
    ("business", "neutral", "Remove user access – employee left|User management",
     "Our former bookkeeper, {first2} {last2}, left the company on {date}. Please remove her access to our business online banking immediately. We'd also like to add a new user with view-only rights – how do we do that?"),
    ("brokerage", "neutral", "Can't see my portfolio in the app|Depot not showing",
     "Since the last app update I can't see my securities account in the app anymore – just an empty screen with \"Something went wrong\". The current account shows normally and the website works on my laptop. Is this a known problem?"),
    ("retail", "angry", "Possible phishing – please block my account|I clicked a fake link",
     "I received a text message that looked like it was from you saying my access would be blocked. I clicked the link and entered my login details and a TAN. Now I can't log in anymore.\n\nPlease block my account immediately and tell me what to do next!"),
    ("retail", "terse", "login|",
     "can't log in. \"invalid credentials\" but password is right. help"),
    ("retail", "neutral", "App crashes at login|App keeps crashing",
     "The app crashes every time I try to log in – right after I enter my PIN it closes. I'm on Android and have updated the app and restarted my phone. Is there a fix?"),
    ("retail|business", "neutral", "SMS codes not arriving abroad|No TAN abroad",
     "I'm working {in_abroad} for a few weeks and I'm not receiving the SMS codes any more. Is there a way to switch to the app without having a letter sent to Germany?"),
    ("retail", "angry", "Locked out for a week – complaint|Still no access",
     "I have been locked out of my account for a week now. I've called three times, waited forever on hold and was promised a callback that never came. I can't pay my bills. This is not acceptable.",
     {"q": "complaints"}),
    ("business", "neutral", "Second approver for payments|Dual authorisation",
     "We would like to set up dual authorisation for payments above {big} on our business account, so that a second director has to approve. How do we set this up in online banking?"),
])

# --- account_closure -------------------------------------------------------------------------
add("account_closure", "de", [
    ("retail", "formal", "Kündigung Girokonto|Kontokündigung",
     "hiermit kündige ich mein Girokonto {iban} zum nächstmöglichen Zeitpunkt. Das Restguthaben überweisen Sie bitte auf mein Konto bei der {other_bank}, IBAN {iban2}.\n\nBitte bestätigen Sie mir die Kündigung schriftlich."),
    ("retail", "formal", "Auflösung der Konten meines verstorbenen Vaters|Nachlass – Kontoauflösung",
     "mein Vater, {deceased}, ist am {date2} verstorben. Als Alleinerbin möchte ich seine Konten bei Ihnen auflösen. Ein Erbschein liegt vor.\n\nWelche Unterlagen benötigen Sie von mir, und wohin soll ich sie schicken?"),
    ("brokerage", "neutral", "Depot schließen|Depotauflösung",
     "ich möchte mein Depot bei Ihnen schließen. Die Wertpapiere habe ich alle verkauft, auf dem Verrechnungskonto sind noch etwa {amount}. Bitte überweisen Sie den Rest auf mein Girokonto bei Ihnen und lösen Sie Depot und Verrechnungskonto auf.",
     {"q": "securities"}),
    ("retail", "angry", "Kündigung aller Konten|Mir reicht's",
     "nach der erneuten Gebührenerhöhung reicht es mir. Bitte kündigen Sie alle meine Konten und Karten bei Ihnen. Ich bin seit 15 Jahren Kunde, aber so behandelt man keine Stammkunden.\n\nDas Guthaben bitte auf {iban2}.",
     {"q": "complaints"}),
    ("business", "formal", "Auflösung Geschäftskonto – Liquidation|Schließung Geschäftskonto",
     "die {company} wird zum {date_future} liquidiert. Wir bitten Sie daher, uns mitzuteilen, welche Schritte für die Schließung unseres Geschäftskontos notwendig sind. Liquidator ist Herr {first3} {last3}; die entsprechende Handelsregistereintragung liegt vor."),
    ("retail", "neutral", "Tagesgeldkonto auflösen|Nur Tagesgeld schließen",
     "bitte lösen Sie mein Tagesgeldkonto auf und überweisen Sie das Guthaben auf mein Girokonto bei Ihnen. Das Girokonto soll bestehen bleiben."),
    ("retail|brokerage", "terse", "Konto kündigen|",
     "Wie kann ich mein Konto kündigen? Geht das per Mail?"),
    ("retail", "neutral", "Jugendkonto auflösen|Konto meiner Tochter",
     "meine Tochter ist jetzt 18 und hat inzwischen ein eigenes Konto bei einer anderen Bank. Wir möchten das Jugendkonto bei Ihnen deshalb auflösen. Muss sie selbst unterschreiben, oder reicht es, wenn ich das als Mutter mache?"),
    ("business", "neutral", "Vereinskonto auflösen|Auflösung Verein",
     "unser Verein wurde auf der Mitgliederversammlung am {date2} aufgelöst. Als {role} bitte ich um Schließung des Vereinskontos. Das Restguthaben von {amount} soll laut Satzung an den Kinderschutzbund gehen. Welche Unterlagen brauchen Sie von uns?",
     {"org": "association"}),
    ("brokerage", "neutral", "Depot kündigen|Kündigung Depot und Verrechnungskonto",
     "ich kündige mein Depot bei Ihnen. Die Wertpapiere sollen vollständig auf mein neues Depot bei der {other_bank} übertragen werden, das Verrechnungskonto können Sie danach schließen. Den Übertragsauftrag der neuen Bank sollten Sie bereits bekommen haben.",
     {"q": "securities"}),
])
add("account_closure", "en", [
    ("retail", "neutral", "Closing my account – leaving Germany|Account closure",
     "I'm leaving Germany at the end of {next_month_name} and would like to close my current account. Can you transfer the remaining balance to my account {in_abroad} once it's closed? I'll send you the details."),
    ("retail", "neutral", "Please close my account|Account closure request",
     "Please close my current account {iban}. I have switched banks. The remaining balance should go to {iban2}. Please confirm once the account is closed."),
    ("brokerage", "neutral", "Close securities account|Closing my depot",
     "I'd like to close my securities account. I've sold all positions; there should be around {amount} left on the clearing account. Please transfer it to my current account and close the depot.",
     {"q": "securities"}),
    ("retail", "formal", "Account of my late husband|Bereavement – closing accounts",
     "My husband, {deceased}, passed away on {date2}. I am the executor of his estate and would like to close his accounts with you. Please let me know which documents you require. I have the death certificate and the certificate of inheritance."),
    ("business", "neutral", "Close one of our sub-accounts|Closing sub-account",
     "We hold three accounts with you for {company}. We no longer need the sub-account ending {iban4} (project account). Please close it and transfer the remaining balance to our main account."),
    ("retail", "angry", "Closing all my accounts|I'm done",
     "After the latest fee increase and the way I was treated on the phone yesterday, I want to close all my accounts with you, effective immediately. Transfer my balance to {iban2}. Don't try to call me to keep me as a customer.",
     {"q": "complaints"}),
    ("retail|brokerage", "terse", "close account|",
     "How do I close my account? Can I do it by email?"),
    ("retail", "neutral", "Joint account after separation|Closing joint account",
     "My ex-partner and I have a joint account with you that we no longer use. We'd like to close it and split the balance. Do we both need to sign something?"),
    ("retail", "neutral", "Unused account – please close|Never used this account",
     "I opened an account with you last year for a promotion but never really used it. Please close it and confirm that no fees will be charged. There should be a few euros left – just send them to {iban2}."),
    ("business", "formal", "Closure of business account – company dissolution|Company dissolved",
     "As {company} has ceased trading, we wish to close our business account effective {date_future}. Please advise on the required documents and confirm how the company credit cards will be cancelled."),
])

# --- order_execution -------------------------------------------------------------------------
add("order_execution", "de", [
    ("brokerage", "neutral", "Limitorder nicht ausgeführt|Kauforder {security}",
     "meine Kauforder über {qty} Stück {security} (ISIN {isin}) von heute Morgen steht immer noch auf „offen“, obwohl der Kurs zwischendurch unter meinem Limit von {price} lag. Warum wurde die Order nicht ausgeführt?"),
    ("brokerage", "angry", "Stop-Loss deutlich unter Limit ausgeführt|Stopp-Order {order}",
     "ich hatte gestern eine Stop-Loss-Order für {security} bei {price} eingestellt. Heute früh wurde zu {price_low} verkauft – deutlich unter meinem Stopp! Wie kann das sein? Ich möchte eine genaue Erklärung, wie dieser Kurs zustande gekommen ist."),
    ("brokerage", "neutral", "Order abgelehnt|Order {order} abgelehnt",
     "meine Order {order} wurde abgelehnt mit dem Hinweis „Handelsplatz nicht verfügbar“. Was bedeutet das, und an welchem Handelsplatz kann ich das Papier (ISIN {isin}) stattdessen kaufen?"),
    ("brokerage", "neutral", "Teilausführung stornieren?|Order teilweise ausgeführt",
     "meine Verkaufsorder über {qty} {security} wurde nur teilweise ausgeführt, es sind noch {qty2} Stück offen. Kann ich den Rest noch stornieren? In der App ist der Stornieren-Button ausgegraut."),
    ("brokerage", "formal", "Verkauf von Aktien|Bitte um Verkauf meiner Aktien",
     "ich möchte meine {qty} Aktien der {security} verkaufen, weiß aber nicht, wie das im Internet geht. Mein Sohn hat das sonst immer für mich gemacht.\n\nKönnen Sie den Verkauf für mich ausführen? Bitte rufen Sie mich an, wenn Sie dafür eine Unterschrift brauchen."),
    ("brokerage", "neutral", "Sparplan nicht ausgeführt|ETF-Sparplan {month}",
     "mein Sparplan auf den {security} über monatlich {small} wurde diesen Monat nicht ausgeführt, obwohl das Verrechnungskonto gedeckt war. In den Vormonaten lief alles normal. Wird die Ausführung nachgeholt?",
     {"sec": "etf"}),
    ("brokerage", "terse", "Ausführungskurs?|Order {order}",
     "Order {order}: Ausführungskurs {price_high}, Kurs zu dem Zeitpunkt lag bei {price}. Bitte prüfen."),
    ("brokerage", "angry", "Schadensersatz – verspätete Ausführung|Order 40 Minuten zu spät",
     "meine Verkaufsorder für {qty} {security} habe ich um 9:05 Uhr aufgegeben, ausgeführt wurde sie laut Abrechnung erst um 9:47 Uhr – in der Zwischenzeit ist der Kurs eingebrochen. Mir ist dadurch ein Schaden von rund {amount} entstanden.\n\nIch fordere Sie auf, mir diesen Betrag zu erstatten.",
     {"q": "complaints"}),
    ("brokerage", "neutral", "Zeichnung Anleihe – Zuteilung?|Zeichnungsauftrag",
     "ich habe in der Zeichnungsfrist eine Zeichnung für die neue Anleihe der {issuer} über {amount} aufgegeben. Die Frist ist seit {date} vorbei, aber in meinem Depot sehe ich weder eine Zuteilung noch eine Ablehnung. Wann erfahre ich, ob ich etwas bekommen habe?"),
    ("brokerage", "neutral", "Keine Wertpapierabrechnung|Abrechnung fehlt",
     "am {date} habe ich {qty} Stück {security} gekauft. Im Depot ist die Position da, aber eine Wertpapierabrechnung habe ich nicht im Postfach bekommen. Können Sie die bitte nachreichen?"),
    ("brokerage", "casual", "kauf hat nicht geklappt|order hängt",
     "hi, hab grad versucht {security} zu kaufen, die order hängt seit ner halben stunde bei \"wird übermittelt\". geld ist schon reserviert. was jetzt?"),
])
add("order_execution", "en", [
    ("brokerage", "neutral", "Limit order not executed|Buy order {security}",
     "My limit buy order for {qty} shares of {security} (ISIN {isin}) is still open, even though the price dropped below my limit of {price} several times today. Why wasn't it executed?"),
    ("brokerage", "angry", "Stop loss executed far below stop|Order {order} – terrible fill",
     "I set a stop loss on {security} at {price}. This morning it was sold at {price_low}, way below my stop. How is that possible? I want a detailed explanation of how this price came about."),
    ("brokerage", "neutral", "Order rejected – insufficient funds?|Order {order} rejected",
     "My order {order} was rejected with the message \"insufficient funds\", but there is clearly enough cash in my clearing account. Could you look into this?"),
    ("brokerage", "neutral", "Cancel open order|Can't cancel order",
     "I'd like to cancel my open order {order} ({qty} x {security}), but the cancel button in the app doesn't respond. Could you cancel it for me please, or tell me if it's already too late?"),
    ("brokerage", "neutral", "Execution price differs from quote|Price on contract note",
     "I bought {qty} {security} yesterday. The quote in the app was {price}, but the contract note shows {price_high}. Could you explain the difference?"),
    ("brokerage", "neutral", "Savings plan not executed|ETF savings plan",
     "My monthly savings plan for {security} ({small}) was not executed this month, although there was enough money in the clearing account. Will it be executed later, or do I need to buy manually?",
     {"sec": "etf"}),
    ("brokerage", "terse", "order status|",
     "Order {order} – still pending since this morning. Status?"),
    ("brokerage", "angry", "Compensation for delayed execution|Formal complaint – order {order}",
     "I placed a sell order for {qty} {security} at 9:05 am. According to the contract note, it was executed at 9:47 am, after the price had already collapsed. This delay cost me around {amount}. I expect you to compensate me for this loss.",
     {"q": "complaints"}),
    ("brokerage", "neutral", "Sold wrong quantity by mistake|Mistaken sell order",
     "I accidentally sold {qty_x10} shares of {security} instead of {qty} – I typed an extra zero. Is there any way to reverse this trade? If not, what's the fastest way to buy them back without paying the fees twice?"),
    ("brokerage", "neutral", "US shares – order pending after hours|Can't trade US stocks in the afternoon?",
     "I tried to buy {security} at around 5 pm and the order has been sitting in \"pending\" ever since. Which trading venue do you route US orders to, and what are the trading hours?",
     {"sec": "us"}),
    ("brokerage", "casual", "order stuck|buy order hanging",
     "hey, my buy order for {security} has been stuck on \"transmitting\" for 30 min. the money is already reserved. what do I do?"),
])

# --- portfolio_transfer ----------------------------------------------------------------------
add("portfolio_transfer", "de", [
    ("brokerage", "neutral", "Depotübertrag zu Ihnen|Depot von der {other_bank} übertragen",
     "ich möchte mein Depot von der {other_bank} zu Ihnen übertragen. Muss ich den Übertrag bei Ihnen beauftragen oder bei der alten Bank? Und werden die Kaufkurse mit übertragen?"),
    ("brokerage", "neutral", "Depotübertrag dauert|Übertrag unvollständig",
     "der Depotübertrag von der {other_bank} läuft jetzt seit sechs Wochen. Drei von sieben Positionen sind angekommen, der Rest fehlt noch, darunter {security}. Können Sie bei der abgebenden Bank nachhaken?"),
    ("brokerage", "neutral", "Einstandskurse fehlen nach Übertrag|Anschaffungskosten 0",
     "nach dem Depotübertrag stehen bei allen übertragenen Positionen die Einstandskurse auf 0,00 €. Das wird bei einem Verkauf steuerlich ein Problem. Wurden die Anschaffungsdaten von der alten Bank nicht mitgeliefert?"),
    ("brokerage", "formal", "Übertrag von Aktien an meinen Sohn|Schenkung von Wertpapieren",
     "ich möchte meinem Sohn {qty} Aktien der {security} schenken und auf sein Depot bei der {other_bank} übertragen. Welche Angaben benötigen Sie dafür? Muss die Schenkung dem Finanzamt gemeldet werden?"),
    ("brokerage", "neutral", "Teilübertrag ETFs|Nur ETFs übertragen",
     "ich möchte nur meine ETF-Positionen zur {other_bank} übertragen, die Einzelaktien sollen bei Ihnen bleiben. Geht so ein Teilübertrag, und brauche ich dafür ein Formular von Ihnen oder von der neuen Bank?"),
    ("brokerage", "neutral", "Kosten Depotübertrag?|Gebühren für Übertrag",
     "kostet ein Depotübertrag zu Ihnen etwas? Ich habe bei der {other_bank} ca. 15 Positionen, darunter zwei ausländische Aktien. Übernehmen Sie eventuelle Gebühren der alten Bank?"),
    ("brokerage", "terse", "Status Übertrag|",
     "Übertragsformular am {date} unterschrieben zurückgeschickt. Stand?"),
    ("brokerage", "formal", "Übertrag aus Nachlass|Wertpapiere aus Erbschaft",
     "meine Mutter ist im {month2} verstorben. Ich bin Alleinerbe und möchte die Wertpapiere aus ihrem Depot bei der {other_bank} auf mein Depot bei Ihnen übertragen lassen. Wie gehe ich dabei vor?"),
    ("brokerage", "angry", "Übertrag seit 10 Wochen nicht abgeschlossen|Fonds hängt fest",
     "seit zehn Wochen warte ich darauf, dass mein Depotübertrag abgeschlossen wird. Ein Fonds hängt immer noch fest, und ich kann ihn weder verkaufen noch sehen, wo er gerade liegt. Ich erwarte jetzt eine konkrete Auskunft und keinen Textbaustein mehr.",
     {"q": "complaints"}),
])
add("portfolio_transfer", "en", [
    ("brokerage", "neutral", "Transfer my portfolio to you|Transfer from {other_bank}",
     "I'd like to transfer my securities account from {other_bank} to you. Do I start the transfer with you or with my old bank? And will the purchase prices be transferred as well?"),
    ("brokerage", "neutral", "Transfer still incomplete|Portfolio transfer status",
     "My portfolio transfer from {other_bank} started five weeks ago. Four positions have arrived, but {security} and two funds are still missing. Could you follow up with the other bank?"),
    ("brokerage", "neutral", "Missing cost basis after transfer|Purchase prices show 0",
     "After the transfer, all my positions show a purchase price of 0.00. That will cause problems with tax when I sell. Did my previous bank not send the acquisition data?"),
    ("brokerage", "neutral", "Gift shares to my daughter|Transfer shares to another account",
     "I'd like to give my daughter {qty} shares of {security} and transfer them to her securities account at {other_bank}. What information do you need from me?"),
    ("brokerage", "neutral", "Partial transfer out|Transfer only ETFs",
     "I want to transfer only my ETF positions to another broker and keep the individual shares with you. Is a partial transfer possible? Who sends the form – you or the receiving bank?"),
    ("brokerage", "neutral", "Transfer from a UK broker|Can you receive shares from abroad?",
     "I currently hold US and UK shares with a broker in London. Can you receive a transfer from a foreign broker, and what information would they need from you (BIC, account number, place of custody)?"),
    ("brokerage", "terse", "transfer status|",
     "Sent the signed transfer form on {date}. Any update?"),
    ("brokerage", "neutral", "Fractional shares in transfer|Fractions not transferred",
     "My transfer came through, but all the fractional shares from my savings plans are missing – e.g. I had 12.384 units of {security}, now I only see 12. What happens to the fractions?",
     {"sec": "etf"}),
    ("brokerage", "formal", "Inherited securities|Transfer of inherited portfolio",
     "Following the death of my father in {month2}, I am the sole heir. I would like to transfer the securities from his account at {other_bank} into my securities account with you. Could you tell me how to proceed?"),
])

# --- dividend_payment ------------------------------------------------------------------------
add("dividend_payment", "de", [
    ("brokerage", "neutral", "Dividende nicht gutgeschrieben|Dividende {security}",
     "die Dividende von {security} ist bei mir noch nicht gutgeschrieben, obwohl der Zahltag laut Unternehmen der {date} war. Ich halte {qty} Stück seit über einem Jahr. Können Sie das prüfen?"),
    ("brokerage", "neutral", "Hoher Steuerabzug auf Dividende|Warum so viel Steuer?",
     "auf die Dividende von {security} wurde mir fast ein Drittel abgezogen – ausländische Quellensteuer und dann noch Abgeltungsteuer. Ist das so richtig? Ich dachte, die Quellensteuer wird angerechnet.",
     {"sec": "us"}),
    ("brokerage", "neutral", "Aktiensplit – Bestand falsch|Split {security}",
     "bei {security} gab es am {date} einen Aktiensplit 1:4. In meinem Depot werden aber immer noch {qty} Stück zum neuen Kurs angezeigt, also nur ein Viertel des Werts. Wann wird das korrigiert?"),
    ("brokerage", "neutral", "Bezugsrechte – was tun?|Kapitalerhöhung",
     "in meinem Depot sind plötzlich Bezugsrechte für {security} eingebucht. Ich verstehe nicht, was ich jetzt machen muss. Verfallen die, wenn ich nichts tue? Bis wann muss ich mich entscheiden?"),
    ("brokerage", "neutral", "Zinszahlung Anleihe fehlt|Kupon nicht gezahlt",
     "für meine {security} hätte am {date} die jährliche Zinszahlung kommen müssen. Auf dem Verrechnungskonto ist nichts eingegangen. Ist der Emittent in Schwierigkeiten, oder liegt es an Ihnen?",
     {"sec": "bond"}),
    ("brokerage", "formal", "Schreiben zur Wahldividende|Ihr Schreiben vom {date}",
     "ich habe von Ihnen ein Schreiben zu einer Wahldividende der {security} erhalten und verstehe es leider nicht. Was passiert, wenn ich nicht antworte? Ich möchte einfach wie bisher das Geld bekommen."),
    ("brokerage", "terse", "Dividende fehlt|",
     "Dividende {security} ist nicht angekommen. Bitte prüfen. {qty} Stück im Depot."),
    ("brokerage", "neutral", "Dividende in USD – Umrechnung|Falscher Wechselkurs?",
     "die Dividende der {security} wurde in USD gezahlt und in Euro umgerechnet. Der angewendete Kurs weicht aber deutlich vom Referenzkurs an dem Tag ab. Welchen Kurs verwenden Sie, und warum ist der so schlecht?",
     {"sec": "us"}),
    ("brokerage", "neutral", "Übernahmeangebot|Annahmefrist Übernahme",
     "für meine Aktien der {security} läuft ein Übernahmeangebot. Muss ich aktiv etwas tun, um das Angebot anzunehmen, und bis wann? In der App sehe ich keinen Hinweis dazu."),
    ("brokerage", "angry", "Dividende zum zweiten Mal falsch|Schon wieder falsche Dividende",
     "zum zweiten Mal in diesem Jahr wurde meine Dividende falsch gebucht: diesmal nur auf {qty2} statt auf {qty} Aktien der {security}. Ich erwarte, dass Sie das korrigieren und mir erklären, wie so etwas passieren kann.",
     {"q": "complaints"}),
])
add("dividend_payment", "en", [
    ("brokerage", "neutral", "Dividend not received|Missing dividend {security}",
     "I haven't received the dividend for {security}, which according to the company was paid on {date}. I've held {qty} shares for more than a year. Could you check?"),
    ("brokerage", "neutral", "Too much tax on dividend|Dividend withholding",
     "Almost a third of my dividend from {security} was withheld – foreign withholding tax plus German tax. Is that correct? I thought the foreign tax would be credited.",
     {"sec": "us"}),
    ("brokerage", "neutral", "Stock split – wrong position|Split not reflected",
     "{security} had a 1:4 stock split on {date}, but my account still shows {qty} shares at the new price. When will this be corrected?"),
    ("brokerage", "neutral", "Subscription rights – what to do?|Rights issue",
     "Some subscription rights for {security} have appeared in my portfolio. What do I need to do? Will they lapse if I do nothing, and what's the deadline?"),
    ("brokerage", "neutral", "Bond coupon not paid|Missing interest payment",
     "The annual coupon on my {security} was due on {date}, but nothing has been credited to my clearing account. Could you find out what happened?",
     {"sec": "bond"}),
    ("brokerage", "neutral", "Scrip dividend letter|Dividend option",
     "I received a letter about a scrip dividend option for {security}. I don't really understand it. What happens if I don't respond? I'd just like to receive cash as usual."),
    ("brokerage", "terse", "dividend missing|",
     "Dividend for {security} not credited yet, {qty} shares. Pls check."),
    ("brokerage", "neutral", "FX rate on USD dividend|Dividend conversion rate",
     "My dividend from {security} was paid in USD and converted to EUR at a rate that is well below the reference rate on that day. Which exchange rate do you use?",
     {"sec": "us"}),
    ("brokerage", "neutral", "Takeover offer – do I need to act?|Tender offer",
     "There is a takeover offer for {security}, and I hold {qty} shares with you. Do I need to actively tender my shares, and what's the deadline? I didn't see anything in the app."),
    ("brokerage", "neutral", "Fund distribution booked twice?|Double distribution",
     "The distribution of my {security} seems to have been credited twice on {date} and then one booking was reversed a day later. My balance is now lower than expected. Could you explain the bookings?",
     {"sec": "fund"}),
])

# --- fee_complaint ---------------------------------------------------------------------------
add("fee_complaint", "de", [
    ("retail", "neutral", "Kontoführungsgebühr {month}|Gebühr trotz Gehaltseingang",
     "für {month} wurden mir 5,90 € Kontoführungsgebühr berechnet. Bei Kontoeröffnung hieß es, das Konto ist ab 700 € monatlichem Geldeingang kostenlos, und mein Gehalt liegt deutlich darüber. Bitte erstatten Sie die Gebühr."),
    ("retail", "angry", "Überziehungszinsen – Wucher|Dispozinsen",
     "Sie haben mir für drei Tage im Minus {fee} Überziehungszinsen berechnet. Das ist doch Wucher! Das Minus entstand nur, weil mein Gehalt einen Tag später kam. Ich erwarte eine Erstattung."),
    ("brokerage", "neutral", "Ordergebühren mehrfach berechnet|Teilausführungen – dreifache Gebühr",
     "meine Kauforder über {qty} {security} wurde in drei Teilausführungen abgerechnet, und für jede wurde die volle Ordergebühr berechnet. Das kann doch nicht im Sinne des Kunden sein. Bitte erstatten Sie mir die doppelt berechneten Gebühren.",
     {"q": "securities"}),
    ("business", "neutral", "Preisanpassung – Aufstellung der Entgelte|Entgelte Geschäftskonto",
     "wir haben Ihr Schreiben zur Preisanpassung erhalten: die Buchungspostenentgelte steigen ab {next_month}. Bevor wir entscheiden, ob wir unser Kontomodell wechseln, hätten wir gern eine Aufstellung aller Entgelte des letzten Quartals für unser Geschäftskonto. Welches Modell würden Sie uns empfehlen?",
     {"q": "accounts"}),
    ("retail", "neutral", "Gebühr Abhebung im Ausland|Auslandseinsatzentgelt",
     "bei einer Abhebung {in_abroad} wurden mir {fee} Gebühren berechnet. Mit der Karte wurde aber mit „weltweit kostenlos Bargeld abheben“ geworben. Bitte erklären Sie mir das, oder erstatten Sie den Betrag."),
    ("brokerage", "neutral", "Depotführungsentgelt|Depotgebühr trotz Trades",
     "mir wurde ein Depotführungsentgelt von {fee} belastet, obwohl ich im letzten Quartal mehr als die geforderten zwei Trades gemacht habe. Bitte prüfen Sie das und buchen Sie die Gebühr zurück."),
    ("retail", "neutral", "Jahresgebühr Kreditkarte|Kreditkartengebühr im ersten Jahr",
     "heute wurde die Jahresgebühr für meine Kreditkarte abgebucht ({fee}). Laut Angebot bei Vertragsabschluss ist das erste Jahr kostenlos, und die Karte habe ich erst seit fünf Monaten."),
    ("business", "neutral", "Gebühren Auslandsüberweisung|Empfänger erhält weniger",
     "bei unseren Auslandsüberweisungen an einen Lieferanten {in_abroad} kommt beim Empfänger jedes Mal weniger an als überwiesen, obwohl wir „SHA“ gewählt haben. Zusätzlich berechnen Sie uns {fee} pro Überweisung. Wie setzen sich diese Gebühren zusammen?",
     {"q": "payments"}),
    ("retail", "formal", "Gebühr für Kontoauszüge auf Papier|Entgelt Papierauszug",
     "seit Neuestem berechnen Sie mir für jeden Kontoauszug, den ich per Post erhalte, ein Entgelt. Ich bin 81 Jahre alt und habe kein Internet. Ich halte das nicht für gerecht und bitte Sie, das für mich zu streichen."),
    ("retail", "angry", "Rücklastschriftgebühr???|Was soll diese Gebühr",
     "WAS sind 12,50 € „Entgelt Rücklastschrift“?? Ich hab die Lastschrift doch gar nicht zurückgegeben, die hat Ihre Bank mangels Deckung nicht eingelöst, und das Minus waren 3 Euro! Ich will das Geld zurück."),
    ("retail|business", "neutral", "Gebühr Ersatzkarte|Ersatzkarte berechnet",
     "für meine Ersatzkarte wurden mir {fee} berechnet. Die alte Karte war aber defekt, nicht verloren – der Chip hat sich gelöst. Ich finde, dafür sollte ich nichts bezahlen müssen."),
])
add("fee_complaint", "en", [
    ("retail", "neutral", "Account fee charged|Monthly fee despite salary",
     "I was charged a monthly account fee of 5.90 euros for {month}, even though my salary (well above 700 euros) is paid into this account. According to your terms, the account should be free. Please refund the fee."),
    ("retail", "angry", "Overdraft interest – seriously?|Outrageous overdraft interest",
     "You charged me {fee} in overdraft interest for being slightly negative for three days. My salary came in one day late. This is outrageous and I want it refunded."),
    ("brokerage", "neutral", "Order fee higher than price list|Wrong trading fee",
     "The fee for my last order ({order}) was {fee}, but according to your price list it should have been 4.90 euros flat. Could you check and correct this?",
     {"q": "securities"}),
    ("business", "neutral", "Fee overview for our business account|Question about new pricing",
     "We received your notice about the new pricing for business accounts. Could you send us an overview of all fees charged on our account in the last quarter? We want to understand whether another account model would suit us better.",
     {"q": "accounts"}),
    ("retail", "neutral", "Foreign transaction fee|FX fee on card payments",
     "I was charged a foreign transaction fee of {fee} on card payments {in_abroad}, although my card was advertised as \"free worldwide\". Please explain or refund."),
    ("retail|business", "neutral", "Replacement card fee|Charged for replacement card",
     "You charged me {fee} for a replacement card, but my old card was faulty – the chip stopped working. I don't think I should pay for a defective card."),
    ("brokerage", "neutral", "Custody fee|Custody fee although I traded",
     "I was charged a custody fee of {fee} for last quarter, but I made more than the required number of trades. Please reverse it."),
    ("business", "neutral", "International payment fees|Supplier receives less than we send",
     "Every time we pay our supplier {in_abroad}, they receive less than the invoice amount, although we choose shared charges (SHA). On top of that, you charge us {fee} per payment. Can you break down these fees for us?",
     {"q": "payments"}),
    ("retail", "terse", "fee??|",
     "What is this {fee} fee on my account from {date}? Never agreed to any fee. Refund pls."),
    ("retail", "angry", "Returned direct debit fee|Unfair fee",
     "You charged me a 12.50 euro fee for a returned direct debit. The debit bounced because my account was 3 euros short – and you're charging me four times that? This is ridiculous."),
    ("retail", "formal", "Fee for paper statements|Charges for statements by post",
     "I have recently noticed that I am being charged for receiving statements by post. I am 79 and do not use the internet. I do not think this is fair, and I would ask you to waive this fee for me."),
])

# --- service_complaint -----------------------------------------------------------------------
add("service_complaint", "de", [
    ("retail", "angry", "Hotline – 45 Minuten Warteschleife|Beschwerde Erreichbarkeit",
     "ich habe heute 45 Minuten in Ihrer Warteschleife gehangen, dann wurde einfach aufgelegt. Beim zweiten Versuch das Gleiche. Für eine Bank, die mit „persönlichem Service“ wirbt, ist das ein Witz."),
    ("retail|business", "neutral", "Keine Antwort auf meine E-Mails|Dritte Nachricht ohne Antwort",
     "ich habe Ihnen am {date2} und am {date} geschrieben und bis heute keine Antwort erhalten, nur die automatische Eingangsbestätigung. Ich möchte mich hiermit offiziell darüber beschweren. Worum es ging, steht in meinen beiden Mails."),
    ("brokerage", "angry", "App-Ausfall am {date}|Plattform stundenlang nicht erreichbar",
     "am {date} war Ihre App fast den ganzen Vormittag nicht erreichbar, ausgerechnet an einem Tag mit starken Kursbewegungen. Eine Information dazu gab es weder per Mail noch in der App. Ich erwarte eine Stellungnahme, wie Sie so etwas künftig verhindern."),
    ("business", "formal", "Kontoeröffnung dauert 6 Wochen|Beschwerde Kontoeröffnung",
     "seit sechs Wochen versuchen wir, ein Geschäftskonto für die {company} zu eröffnen. Jede Woche werden neue Unterlagen angefordert, die wir teilweise schon mehrfach geschickt haben. So können wir nicht arbeiten – unsere Kunden können uns nicht bezahlen. Bitte sorgen Sie dafür, dass sich jemand verantwortlich um unseren Antrag kümmert."),
    ("retail", "neutral", "Falsche Auskunft am Telefon|Beschwerde über Beratung",
     "am {date2} wurde mir am Telefon gesagt, dass mein Geld jederzeit verfügbar ist und ich es ohne Frist auf mein Girokonto übertragen kann. Jetzt stellt sich heraus, dass es sich um Festgeld mit zwölf Monaten Laufzeit handelt. Hätte ich das gewusst, hätte ich anders entschieden."),
    ("retail", "formal", "Unfreundlicher Mitarbeiter|Beschwerde über einen Mitarbeiter",
     "ich möchte mich über das Verhalten eines Ihrer Mitarbeiter am Telefon am {date} beschweren. Ich bin 76 Jahre alt und habe einfach länger gebraucht, meine Frage zu formulieren. Der Mitarbeiter war ungeduldig und hat mich mehrfach unterbrochen. So möchte ich nicht behandelt werden."),
    ("retail", "angry", "Überweisung doppelt ausgeführt!|Ihr Fehler – Konto im Minus",
     "Sie haben meine Überweisung über {amount} vom {date} zweimal ausgeführt. Dadurch ist mein Konto ins Minus gerutscht und eine Lastschrift ist geplatzt. Ich erwarte, dass Sie das Geld zurückholen und mir sämtliche Folgekosten erstatten."),
    ("business", "neutral", "Ständig wechselnde Ansprechpartner|Firmenkundenbetreuung",
     "in den letzten acht Monaten hatten wir vier verschiedene Firmenkundenbetreuer. Jeder muss sich neu einarbeiten, und Zusagen des Vorgängers gelten plötzlich nicht mehr. Wir überlegen ernsthaft, die Bank zu wechseln."),
    ("retail", "angry", "Karte seit 5 Wochen nicht da – dritte Nachfrage|Dritte Nachfrage!",
     "dritte Nachfrage! Meine neue Karte ist seit fünf Wochen nicht da. Bei jedem Anruf bekomme ich eine andere Auskunft, einmal hieß es, sie ist verschickt, dann wieder, sie wurde nie bestellt. Langsam habe ich den Eindruck, bei Ihnen weiß die eine Hand nicht, was die andere tut.",
     {"q": "cards"}),
    ("retail", "neutral", "Chatbot hilft nicht|Kein Mensch erreichbar",
     "Ihr Chatbot versteht meine Frage einfach nicht und schickt mich immer im Kreis. Einen Menschen kann man weder im Chat noch am Telefon erreichen. Ich finde es schade, dass eine Bank so mit ihren Kunden kommuniziert."),
])
add("service_complaint", "en", [
    ("retail", "angry", "45 minutes on hold|Complaint about your hotline",
     "I spent 45 minutes on hold today and then the line was simply cut off. Same again on the second try. For a bank that advertises \"personal service\", this is a joke."),
    ("retail|business", "neutral", "No reply to my emails|Third email without reply",
     "I wrote to you on {date2} and {date} and have not had any reply apart from the automatic acknowledgement. I'd like to make a formal complaint about this. The details of my request are in my previous emails."),
    ("brokerage", "angry", "App outage on {date}|Platform down during market hours",
     "Your app was down for most of the morning on {date}, on a day with big market moves. There was no information by e-mail or in the app. I expect a statement on how you intend to prevent this in future."),
    ("business", "formal", "Business account opening – six weeks|Complaint: account opening",
     "We have been trying to open a business account for {company} for six weeks. Every week we are asked for new documents, some of which we have already sent twice. Our customers cannot pay us in the meantime. Please make sure someone takes responsibility for our application."),
    ("retail|brokerage", "neutral", "Letters only in German|English communication",
     "I set my language preference to English when I opened the account, but all letters – including the important one about the change of terms – arrive in German only. I don't speak German well enough to understand legal documents. I'd like to raise a complaint about this."),
    ("retail", "formal", "Complaint about a staff member|Rude treatment on the phone",
     "I wish to complain about the way I was treated by a member of your staff on the phone on {date}. I was interrupted repeatedly and told to \"read the FAQ\". I have been a customer for many years and expect to be treated with respect."),
    ("retail", "angry", "You executed my transfer twice!|Your mistake – account overdrawn",
     "You executed my transfer of {amount} from {date} twice. My account went overdrawn and a direct debit bounced because of it. I expect you to recover the money and reimburse all resulting charges."),
    ("retail", "neutral", "Asked for the same documents again|Repeated document requests",
     "This is the third time this year I've been asked to upload proof of address and ID \"to update your records\". I've done it every time. Why do your systems not keep the documents? It's frustrating and makes me wonder how my data is handled."),
    ("business", "neutral", "Complaint ref. {ticket} unanswered|Follow-up on complaint",
     "We filed a complaint on {date2} (reference {ticket}) about a wrongly executed payment from our business account. You promised an answer within 15 business days. That deadline has passed. Please let us know when we can expect a response."),
    ("retail", "neutral", "Card delivery – third follow-up|Still no card after 5 weeks",
     "Third follow-up: my new card still hasn't arrived after five weeks. Each time I call I get a different answer – sent, not sent, being produced. It seems nobody knows what's going on.",
     {"q": "cards"}),
])


# ---------------------------------------------------------------------------------------------
# E-mail noise: greetings, sign-offs, signatures, mobile footers, disclaimers
# ---------------------------------------------------------------------------------------------

GREETINGS = {
    "de": {
        "formal": ["Sehr geehrte Damen und Herren,", "Sehr geehrte Damen und Herren,",
                   "Sehr geehrtes Nordhafen-Team,", "Sehr geehrte Damen und Herren der Nordhafen Bank,",
                   "Guten Tag,"],
        "neutral": ["Guten Tag,", "Hallo,", "Hallo zusammen,", "Liebes Nordhafen-Team,", "Moin,",
                    "Guten Morgen,", "Sehr geehrte Damen und Herren,", "Hallo liebes Service-Team,",
                    "Guten Tag zusammen,"],
        "casual": ["Hallo,", "Hi,", "Moin,", "Moin moin,", "Hallo Nordhafen Team,", "Hey,"],
        "angry": ["Sehr geehrte Damen und Herren,", "Guten Tag,", "Hallo,"],
        "terse": ["Hallo,", "Moin,", "Hallo"],
    },
    "en": {
        "formal": ["Dear Sir or Madam,", "Dear Sir/Madam,", "Dear Nordhafen Bank team,",
                   "To whom it may concern,", "Good morning,"],
        "neutral": ["Hello,", "Hi,", "Dear customer service,", "Hello Nordhafen team,",
                    "Good afternoon,", "Dear Sir or Madam,", "Hi there,", "Good morning,"],
        "casual": ["Hi,", "Hey,", "Hi there,", "Hello,", "Hi team,"],
        "angry": ["To whom it may concern,", "Dear Sir or Madam,", "Hello,"],
        "terse": ["Hi,", "Hello,", "Hi"],
    },
}
GREET_PROB = {"formal": 0.97, "neutral": 0.85, "casual": 0.7, "angry": 0.5, "terse": 0.3}

CLOSINGS = {
    "de": {
        "formal": ["Mit freundlichen Grüßen", "Mit freundlichen Grüßen", "Hochachtungsvoll",
                   "Mit besten Grüßen", "Freundliche Grüße"],
        "neutral": ["Viele Grüße", "Mit freundlichen Grüßen", "Freundliche Grüße", "Beste Grüße",
                    "Vielen Dank und viele Grüße", "Danke im Voraus und freundliche Grüße",
                    "Grüße aus Hamburg", "MfG", "VG", "Mit freundlichen Grüßen"],
        "casual": ["LG", "Viele Grüße", "Gruß", "Danke!", "Liebe Grüße", "VG", "Danke und Gruß"],
        "angry": ["Mit freundlichen Grüßen", "MfG", "Gruß", "Hochachtungsvoll"],
        "terse": ["Danke", "Gruß", "MfG", "VG"],
    },
    "en": {
        "formal": ["Yours faithfully", "Kind regards", "Yours sincerely", "Best regards",
                   "With kind regards"],
        "neutral": ["Best regards", "Kind regards", "Regards", "Thanks,", "Many thanks,",
                    "Thank you,", "Best,", "Thanks in advance,"],
        "casual": ["Thanks,", "Cheers,", "Best,", "Thx", "Thanks!"],
        "angry": ["Regards", "Sincerely", "Regards,"],
        "terse": ["Thanks", "Thx", "Regards"],
    },
}
CLOSE_PROB = {"formal": 0.95, "neutral": 0.64, "casual": 0.48, "angry": 0.42, "terse": 0.3}

MOBILE_SIGS = {
    ("de", "ios"): ["Von meinem iPhone gesendet", "Von meinem iPhone gesendet", "Von meinem iPad gesendet"],
    ("en", "ios"): ["Sent from my iPhone", "Sent from my iPhone", "Sent from my iPad"],
    ("de", "android"): ["Gesendet von Outlook für Android", "Von meinem Samsung Galaxy Smartphone gesendet.",
                        "Gesendet von meinem Android-Telefon – bitte entschuldigen Sie die Kürze."],
    ("en", "android"): ["Sent from Outlook for Android", "Sent from my Galaxy",
                        "Sent from my Android phone – please excuse typos."],
}

DISCLAIMERS = {
    "de": [
        "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, informieren Sie bitte sofort den Absender und vernichten Sie diese Mail. Das unerlaubte Kopieren sowie die unbefugte Weitergabe dieser Mail sind nicht gestattet.",
        "{company} · Sitz: Hamburg · Amtsgericht Hamburg HRB {hrb} · Geschäftsführer: {gf} · USt-IdNr.: DE{vat}",
        "Hinweis zum Datenschutz: Informationen zur Verarbeitung Ihrer personenbezogenen Daten finden Sie unter www.{slug}.example/datenschutz.",
        "Bitte denken Sie an die Umwelt, bevor Sie diese E-Mail ausdrucken.",
    ],
    "en": [
        "This e-mail and any attachments are confidential and may be privileged. If you are not the intended recipient, please notify the sender immediately and delete this e-mail. Any unauthorised copying, disclosure or distribution of its contents is prohibited.",
        "{company} | Registered office: Hamburg | Register court: Amtsgericht Hamburg, HRB {hrb} | Managing director(s): {gf} | VAT ID: DE{vat}",
        "Please consider the environment before printing this e-mail.",
        "The information in this e-mail is intended solely for the addressee. Access to this e-mail by anyone else is unauthorised.",
    ],
}
EMPLOYERS = [("Elbhafen Versicherungs-AG", "elbhafen-versicherung", "Dr. Ralf Wiegand"),
             ("Nordstern Klinikum gGmbH", "nordstern-klinikum", "Prof. Dr. Anke Busch"),
             ("Quayside Engineering GmbH", "quayside-engineering", "Martin Fuchs")]

BANK_AGENTS = ["Jana Petersen", "Malte Hansen", "Svenja Krüger", "Deniz Aydin", "Ole Jensen",
               "Katharina Wulf", "Lars Ehlers", "Miriam Stahl"]

# Earlier replies of the bank that clients quote: (subject, automatic?, text). The group names the
# topics a reply answers (REPLY_TOPICS); "generic" replies fit any topic.
BANK_REPLIES = {
    "de": {
        "generic": [
            ("Ihre Nachricht an die Nordhafen Bank", True,
             "vielen Dank für Ihre Nachricht. Wir haben Ihr Anliegen erhalten und bearbeiten es so schnell wie möglich. Aufgrund des hohen Aufkommens kann die Beantwortung derzeit bis zu fünf Werktage dauern.\n\nDies ist eine automatisch erzeugte Nachricht."),
            ("Ihre Anfrage [Ticket#{ticket}]", False,
             "vielen Dank für Ihre Anfrage. Damit wir Ihnen weiterhelfen können, benötigen wir noch einige Angaben: Bitte nennen Sie uns Ihre Kundennummer und beschreiben Sie Ihr Anliegen möglichst genau. Antworten Sie dazu einfach auf diese E-Mail."),
            ("Rückfrage zu Ihrem Anliegen", False,
             "wir haben Ihr Anliegen geprüft, konnten es aber noch nicht abschließend klären. Bitte teilen Sie uns mit, auf welches Konto sich Ihre Anfrage bezieht, und senden Sie uns gegebenenfalls einen Screenshot der Fehlermeldung."),
        ],
        "card_replacement": [
            ("Sperrung Ihrer Karte", False,
             "wie gewünscht haben wir Ihre Karte mit den Endziffern {card4} gesperrt. Eine Ersatzkarte wird automatisch bestellt und Ihnen in den nächsten Tagen per Post zugestellt. Ihre PIN bleibt unverändert."),
        ],
        "card_payment_declined": [
            ("Ihre Kartenzahlung", False,
             "wir haben die abgelehnte Zahlung geprüft. Die Autorisierung wurde von unserem System zur Betrugsprävention abgelehnt. Bitte bestätigen Sie in der App unter Karten > Sicherheit, dass die Zahlung von Ihnen stammt; danach können Sie die Karte wie gewohnt nutzen."),
        ],
        "transfer_status": [
            ("Ihre Überweisung – Nachforschung", False,
             "zu Ihrer Überweisung haben wir einen Nachforschungsauftrag an die Empfängerbank gestellt. Erfahrungsgemäß dauert eine Antwort zehn bis fünfzehn Bankarbeitstage. Sobald uns ein Ergebnis vorliegt, melden wir uns bei Ihnen."),
        ],
        "standing_order": [
            ("Ihr Zahlungsauftrag", False,
             "Ihren Auftrag haben wir erhalten. Daueraufträge und Überweisungen können Sie übrigens jederzeit selbst im Online-Banking unter Zahlungen anlegen, ändern oder löschen."),
        ],
        "order_execution": [
            ("Ihre Order", False,
             "Ihre Order wurde ordnungsgemäß an den Handelsplatz weitergeleitet. Die Ausführung richtet sich nach den Regeln des jeweiligen Handelsplatzes; eine Ausführung zum Limit ist nicht in jedem Fall garantiert."),
        ],
        "portfolio_transfer": [
            ("Ihr Depotübertrag", False,
             "Ihren Auftrag zum Depotübertrag haben wir erhalten und an die abgebende Stelle weitergeleitet. Ein Depotübertrag dauert in der Regel zwei bis sechs Wochen; ausländische Wertpapiere und Fonds können länger brauchen."),
        ],
        "dividend_payment": [
            ("Gutschrift von Erträgen", False,
             "die Gutschrift von Erträgen erfolgt, sobald uns die Zahlung der Lagerstelle vorliegt. Bei ausländischen Wertpapieren kann dies einige Tage nach dem Zahltag der Fall sein."),
        ],
        "tax_certificate": [
            ("Ihre Jahressteuerbescheinigung", False,
             "Ihre Jahressteuerbescheinigung für 2025 steht in Ihrem Online-Postfach zur Verfügung. Freistellungsaufträge können Sie im Online-Banking unter Profil > Steuern anlegen oder ändern."),
        ],
        "address_change": [
            ("Ihre Adressänderung", False,
             "wir haben Ihre neue Anschrift in unserem System hinterlegt. Zur Sicherheit erhalten Sie eine Bestätigung per Post an die neue Adresse."),
        ],
        "online_banking_access": [
            ("Ihr Online-Banking-Zugang", False,
             "Ihr Zugang zum Online-Banking wurde nach mehrfacher Falscheingabe gesperrt. Einen neuen Aktivierungsbrief haben wir heute an Ihre hinterlegte Anschrift versandt; er erreicht Sie in zwei bis drei Werktagen."),
        ],
        "account_closure": [
            ("Ihr Schreiben vom {date2}", False,
             "wir bestätigen den Eingang Ihres Schreibens. Bitte beachten Sie, dass wir ein Konto erst schließen können, wenn alle Daueraufträge und Lastschriften beendet sind und das Konto ausgeglichen ist."),
        ],
        "account_statement": [
            ("Ihre Kontoauszüge", False,
             "alle Kontoauszüge der letzten zehn Jahre finden Sie kostenlos als PDF in Ihrem Online-Postfach. Papierauszüge senden wir Ihnen gern gegen ein Entgelt gemäß Preis- und Leistungsverzeichnis zu."),
        ],
        "complaint": [
            ("Ihre Beschwerde – Aktenzeichen {ticket}", False,
             "wir bedauern, dass Sie mit unserem Service nicht zufrieden waren. Ihre Beschwerde haben wir unter dem oben genannten Aktenzeichen aufgenommen und an die zuständige Fachabteilung weitergegeben. Sie erhalten innerhalb von 15 Bankarbeitstagen eine Antwort."),
        ],
        "fee_complaint": [
            ("Entgelte auf Ihrem Konto", False,
             "wir haben die von Ihnen genannten Entgelte geprüft. Sie entsprechen unserem aktuellen Preis- und Leistungsverzeichnis, das Sie jederzeit auf unserer Internetseite einsehen können. Eine Erstattung ist daher leider nicht möglich."),
        ],
    },
    "en": {
        "generic": [
            ("Your message to Nordhafen Bank", True,
             "Thank you for your message. We have received your request and will deal with it as quickly as possible. Due to high demand, it may currently take up to five working days to reply.\n\nThis is an automatically generated message."),
            ("Your request [Ticket#{ticket}]", False,
             "Thank you for your enquiry. To help you, we need a few more details: please tell us your customer number and describe your request as precisely as possible. Simply reply to this e-mail."),
            ("Query regarding your request", False,
             "We have looked into your request but have not been able to resolve it yet. Please let us know which account your request refers to and, if possible, send us a screenshot of the error message."),
        ],
        "card_replacement": [
            ("Your card has been blocked", False,
             "As requested, we have blocked your card ending {card4}. A replacement card has been ordered automatically and will reach you by post within the next few days. Your PIN remains unchanged."),
        ],
        "card_payment_declined": [
            ("Your card payment", False,
             "We have reviewed the declined payment. The authorisation was declined by our fraud prevention system. Please confirm in the app under Cards > Security that the payment was made by you; you can then use your card as usual."),
        ],
        "transfer_status": [
            ("Your transfer – investigation", False,
             "We have opened an investigation with the beneficiary's bank regarding your transfer. A reply usually takes ten to fifteen banking days. We will get back to you as soon as we have a result."),
        ],
        "standing_order": [
            ("Your payment order", False,
             "We have received your instruction. Please note that you can create, change or delete standing orders and transfers yourself at any time in online banking under Payments."),
        ],
        "order_execution": [
            ("Your order", False,
             "Your order was duly forwarded to the trading venue. Execution is subject to the rules of the respective venue; execution at your limit cannot be guaranteed in every case."),
        ],
        "portfolio_transfer": [
            ("Your portfolio transfer", False,
             "We have received your portfolio transfer instruction and forwarded it to the delivering institution. A transfer usually takes two to six weeks; foreign securities and funds may take longer."),
        ],
        "dividend_payment": [
            ("Crediting of income", False,
             "Income is credited as soon as we have received the payment from the custodian. For foreign securities, this may be a few days after the payment date."),
        ],
        "tax_certificate": [
            ("Your annual tax certificate", False,
             "Your annual tax certificate for 2025 is available in your online postbox. You can create or change exemption orders in online banking under Profile > Taxes."),
        ],
        "address_change": [
            ("Your change of address", False,
             "We have updated your address in our system. For security reasons, you will receive a confirmation by post at your new address."),
        ],
        "online_banking_access": [
            ("Your online banking access", False,
             "Your online banking access was blocked after several incorrect attempts. We sent a new activation letter to your registered address today; it should reach you within two to three working days."),
        ],
        "account_closure": [
            ("Your letter of {date2}", False,
             "We confirm receipt of your letter. Please note that we can only close an account once all standing orders and direct debits have ended and the balance has been settled."),
        ],
        "account_statement": [
            ("Your account statements", False,
             "All statements of the last ten years are available free of charge as PDF files in your online postbox. We are happy to send paper statements for a fee as set out in our price list."),
        ],
        "complaint": [
            ("Your complaint – reference {ticket}", False,
             "We are sorry to hear that you were not satisfied with our service. We have registered your complaint under the above reference and passed it on to the responsible department. You will receive a reply within 15 banking days."),
        ],
        "fee_complaint": [
            ("Fees on your account", False,
             "We have reviewed the fees you mentioned. They are in line with our current price list, which you can view on our website at any time. Unfortunately, we are therefore unable to refund them."),
        ],
    },
}
# Which reply groups answer which topic ("complaint" answers any complaint, also angry ones).
REPLY_TOPICS = {
    "complaint": {"fee_complaint", "service_complaint"},
}


def reply_groups_for(topic: str, queue: str) -> list[str]:
    groups = [topic] if topic in BANK_REPLIES["de"] else []
    if topic in REPLY_TOPICS["complaint"] or queue == "complaints":
        groups.append("complaint")
    return groups


# The team behind a topic; used to pick fitting attachment names.
TOPIC_GROUP = {
    "card_replacement": "cards", "card_payment_declined": "cards",
    "transfer_status": "payments", "standing_order": "payments",
    "order_execution": "securities", "portfolio_transfer": "securities", "dividend_payment": "securities",
    "tax_certificate": "tax",
    "address_change": "accounts", "account_statement": "accounts",
    "online_banking_access": "accounts", "account_closure": "accounts",
    "fee_complaint": "complaints", "service_complaint": "complaints",
}
FORWARD_WRAPPERS = {
    "de": ["ich hatte Ihnen das bereits am {d} geschrieben und bisher keine Antwort erhalten. Hier noch einmal meine Nachricht:",
           "leider habe ich auf die untenstehende Nachricht noch keine Rückmeldung bekommen. Bitte um Bearbeitung.",
           "Erinnerung – siehe unten.",
           "ich schicke meine Mail vom {d} noch einmal, da sich bisher niemand gemeldet hat."],
    "en": ["I sent the message below on {d} and haven't heard back. Could someone please look at it?",
           "Following up on my email below – any update?",
           "Resending, see below.",
           "Forwarding my earlier email again as I haven't received a reply yet."],
}
ATTACHMENTS = {
    "cards": [("karte_foto.png", "card_photo.png"), ("screenshot.png", "screenshot.png")],
    "payments": [("Ueberweisungsbeleg.pdf", "payment_confirmation.pdf"), ("screenshot_banking.png", "screenshot.png")],
    "securities": [("Abrechnung.pdf", "contract_note.pdf"), ("screenshot_depot.png", "screenshot_app.png")],
    "tax": [("Steuerbescheinigung_2025.pdf", "tax_certificate_2025.pdf"), ("Bescheinigung.pdf", "certificate.pdf")],
    "accounts": [("kontoauszug.pdf", "statement.pdf"), ("fehlermeldung.png", "error_screenshot.png"),
                 ("Unterlagen.pdf", "documents.pdf")],
    "complaints": [("kontoauszug.pdf", "statement.pdf"), ("screenshot_app.png", "screenshot.png")],
}
ATTACH_MENTION = {
    ("de", "png"): ["Einen Screenshot habe ich angehängt.", "Ein Foto hänge ich an.", "Screenshot anbei."],
    ("de", "pdf"): ["Das Dokument finden Sie im Anhang.", "Anbei das PDF.", "Ich habe die Unterlagen angehängt."],
    ("en", "png"): ["I've attached a screenshot.", "Screenshot attached.", "Please see the attached picture."],
    ("en", "pdf"): ["Please find the document attached.", "The PDF is attached.", "I've attached the relevant document."],
}

MAILERS = [("outlook", 25), ("owa", 8), ("gmail", 21), ("apple", 10), ("thunderbird", 7),
           ("webmail", 12), ("ios", 11), ("android", 7)]
RAW_KINDS = {
    "outlook": [("alternative", 5), ("html", 4), ("plain", 1)],
    "owa": [("html", 5), ("alternative", 3)],
    "gmail": [("alternative", 1)],
    "apple": [("alternative", 3), ("plain", 2)],
    "ios": [("alternative", 2), ("plain", 3)],
    "android": [("alternative", 2), ("html", 1), ("plain", 1)],
    "thunderbird": [("plain", 3), ("alternative", 1), ("html", 1)],
    "webmail": [("html", 3), ("alternative", 2), ("plain", 1)],
}


def wchoice(rng: random.Random, items):
    total = sum(w for _, w in items)
    r = rng.uniform(0, total)
    for item, w in items:
        r -= w
        if r <= 0:
            return item
    return items[-1][0]


# ---------------------------------------------------------------------------------------------
# Composition: the client's words plus the noise around them
# ---------------------------------------------------------------------------------------------

def random_when(rng: random.Random, topic: str) -> dt.datetime:
    weights = {"tax_certificate": [2, 5, 5, 4, 3, 2, 1, 1, 1, 1],
               "dividend_payment": [1, 1, 2, 4, 5, 4, 2, 2, 1, 1]}.get(topic, [1] * 10)
    month = wchoice(rng, list(zip(range(1, 11), weights, strict=False)))
    days = (dt.date(2026, month + 1, 1) - dt.date(2026, month, 1)).days
    day = dt.date(2026, month, rng.randint(1, days))
    if day.weekday() >= 5 and rng.random() < 0.7:      # most mail is written on weekdays
        day += dt.timedelta(days=7 - day.weekday())
        if day.month != month:
            day -= dt.timedelta(days=3)
    r = rng.random()
    if r < 0.8:
        hour = rng.randint(8, 17)
    elif r < 0.94:
        hour = rng.randint(18, 22)
    else:
        hour = rng.choice([6, 7, 23, 0])
    naive = dt.datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), rng.randint(0, 59))
    return with_tz(naive)


def capitalize_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def name_line(rng: random.Random, p: Persona, lang: str, tone: str, lob: str) -> str:
    r = rng.random()
    if lob == "business" and lang == "de" and rng.random() < 0.3 and \
            not re.match(r"Geschäftsf|Inhaber|Kassenwart", p.role or ""):
        return f"i. A. {p.name}"
    if tone in ("casual", "terse") and r < 0.45:
        return p.first
    if r < 0.12:
        return f"{p.first[0]}. {p.last}"
    if tone == "formal" and lang == "de" and r < 0.2:
        return ("Ihre " if p.female else "Ihr ") + p.title + p.name
    return p.title + p.name


def signature_lines(rng: random.Random, p: Persona, lang: str, lob: str, ctx: Ctx) -> list[str]:
    if lob == "business":
        tel = f"+49 40 {rng.randint(100000, 9999999)}"
        lines = [p.title + p.name, p.role or "", ""]
        if rng.random() < 0.5:
            lines = [p.title + p.name, f"{p.role} | {p.company}" if lang == "en" else p.role or ""]
        if p.company not in lines[1]:
            lines.append(p.company)
        street = f"{p.street} · {p.zip} {p.city}" if rng.random() < 0.5 else f"{p.street}, {p.zip} {p.city}"
        lines.append(street + (", Germany" if lang == "en" and rng.random() < 0.5 else ""))
        if lang == "de":
            lines.append(rng.choice([f"Tel.: {tel} | Fax: {tel[:-1]}9", f"Telefon {tel}", f"Tel. {tel}  Mobil {p.phone}"]))
        else:
            lines.append(rng.choice([f"T {tel} | M {p.phone}", f"Phone: {tel}", f"Tel. {tel}"]))
        if rng.random() < 0.6:
            lines.append(p.email)
        if rng.random() < 0.5:
            lines.append(f"www.{p.company_slug}.example")
        return [line for line in lines if line is not None]
    lines = [p.title + p.name]
    r = rng.random()
    if r < 0.4:
        lines += [p.street, f"{p.zip} {p.city}"]
    if rng.random() < 0.7:
        lines.append(rng.choice(["Tel.: ", "Mobil: ", "Tel. ", ""] if lang == "de" else ["Mobile: ", "Tel: ", "M: ", ""]) + p.phone)
    if lob == "brokerage" and rng.random() < 0.3:
        lines.append(f"Depot-Nr. {ctx.get('depot')}" if lang == "de" else f"Securities account {ctx.get('depot')}")
    if len(lines) == 1:
        lines.append(p.email)
    return lines


def make_disclaimer(rng: random.Random, lang: str, company: str, company_slug: str, gf: str) -> str:
    pool = DISCLAIMERS[lang]
    picks = rng.sample(range(len(pool)), k=rng.choice([1, 1, 2]))
    text = "\n\n".join(pool[i] for i in sorted(picks))
    return text.format(company=company, slug=company_slug, gf=gf, hrb=rng.randint(10000, 199999),
                       vat=rng.randint(100000000, 999999999))


def sent_strings(lang: str, d: dt.datetime) -> dict:
    wd, m = d.weekday(), d.month
    hm = f"{d.hour:02d}:{d.minute:02d}"
    h12 = d.hour % 12 or 12
    ampm = "AM" if d.hour < 12 else "PM"
    summer = d.utcoffset() == dt.timedelta(hours=2)
    return {
        "de_long": f"{DAYS_DE[wd]}, {d.day}. {MONTHS_DE[m]} {d.year} {hm}",
        "en_long": f"{DAYS_EN[wd]}, {MONTHS_EN[m]} {d.day}, {d.year} {h12}:{d.minute:02d} {ampm}",
        "de_gmail": f"{DAYS_DE_SHORT[wd]}, {d.day}. {MONTHS_DE[m]} {d.year} um {hm} Uhr",
        "en_gmail": f"{DAYS_EN_SHORT[wd]}, {d.day} {MONTHS_EN[m][:3]} {d.year} at {hm}",
        "de_apple": f"{d.day:02d}.{m:02d}.{d.year} um {hm}",
        "en_apple": f"{d.day} {MONTHS_EN[m][:3]} {d.year}, at {hm}",
        "de_apple_fwd": f"{d.day}. {MONTHS_DE[m]} {d.year} um {hm}:{d.second:02d} {'MESZ' if summer else 'MEZ'}",
        "en_apple_fwd": f"{d.day} {MONTHS_EN[m]} {d.year} at {hm}:{d.second:02d} {'CEST' if summer else 'CET'}",
        "de_tb": f"{d.day:02d}.{m:02d}.{d.year % 100:02d} um {hm}",
        "en_tb": f"{d.day:02d}/{m:02d}/{d.year} {hm}",
        "de_web": f"{DAYS_DE[wd]}, {d.day:02d}. {MONTHS_DE[m]} {d.year} um {hm} Uhr",
        "en_web": f"{DAYS_EN[wd]}, {MONTHS_EN[m]} {d.day}, {d.year} at {h12}:{d.minute:02d} {ampm}",
    }


def header_block(mailer: str, lang: str, kind: str, h: dict) -> dict:
    """Describes the separator between new text and quoted / forwarded text.

    Returns {"marker": str or None, "fields": [(label, value)], "sentence": str or None,
    "prefix": bool}: either an attribution sentence ("Am ... schrieb ...:") or a marker line plus
    header fields (Outlook style)."""
    de = lang == "de"
    s = sent_strings(lang, h["dt"])
    fr = f'{h["from_name"]} <{h["from_addr"]}>'
    if kind == "reply":
        if mailer == "gmail":
            sent = f"Am {s['de_gmail']} schrieb {fr}:" if de else f"On {s['en_gmail']}, {fr} wrote:"
            return {"marker": None, "fields": [], "sentence": sent, "prefix": True}
        if mailer in ("apple", "ios"):
            sent = f"Am {s['de_apple']} schrieb {fr}:" if de else f"On {s['en_apple']}, {fr} wrote:"
            return {"marker": None, "fields": [], "sentence": sent, "prefix": True}
        if mailer == "thunderbird":
            sent = f"Am {s['de_tb']} schrieb {h['from_name']}:" if de else f"On {s['en_tb']}, {h['from_name']} wrote:"
            return {"marker": None, "fields": [], "sentence": sent, "prefix": True}
        if mailer == "webmail":
            fields = ([("Gesendet", s["de_web"]), ("Von", f'"{h["from_name"]}" <{h["from_addr"]}>'),
                       ("An", h["to"]), ("Betreff", h["subject"])] if de else
                      [("Sent", s["en_web"]), ("From", f'"{h["from_name"]}" <{h["from_addr"]}>'),
                       ("To", h["to"]), ("Subject", h["subject"])])
            return {"marker": None, "fields": fields, "sentence": None, "prefix": False}
        marker = ("-----Ursprüngliche Nachricht-----" if de else "-----Original Message-----") \
            if mailer == "outlook" else "________________________________"
        fields = ([("Von", fr), ("Gesendet", s["de_long"]), ("An", h["to"]), ("Betreff", h["subject"])] if de else
                  [("From", fr), ("Sent", s["en_long"]), ("To", h["to"]), ("Subject", h["subject"])])
        return {"marker": marker, "fields": fields, "sentence": None, "prefix": False}
    # forward
    if mailer in ("apple", "ios"):
        marker = "Beginn der weitergeleiteten Nachricht:" if de else "Begin forwarded message:"
        fields = ([("Von", fr), ("Betreff", h["subject"]), ("Datum", s["de_apple_fwd"]), ("An", h["to"])] if de else
                  [("From", fr), ("Subject", h["subject"]), ("Date", s["en_apple_fwd"]), ("To", h["to"])])
        return {"marker": marker, "fields": fields, "sentence": None, "prefix": False, "blank_after_marker": True}
    if mailer == "thunderbird":
        marker = "-------- Weitergeleitete Nachricht --------" if de else "-------- Forwarded Message --------"
        fields = ([("Betreff", h["subject"]), ("Datum", s["de_tb"]), ("Von", fr), ("An", h["to"])] if de else
                  [("Subject", h["subject"]), ("Date", s["en_tb"]), ("From", fr), ("To", h["to"])])
        return {"marker": marker, "fields": fields, "sentence": None, "prefix": False}
    if mailer in ("outlook", "owa", "android", "webmail"):
        marker = "-----Ursprüngliche Nachricht-----" if de else "-----Original Message-----"
        fields = ([("Von", fr), ("Gesendet", s["de_long"]), ("An", h["to"]), ("Betreff", h["subject"])] if de else
                  [("From", fr), ("Sent", s["en_long"]), ("To", h["to"]), ("Subject", h["subject"])])
        return {"marker": marker, "fields": fields, "sentence": None, "prefix": False}
    # gmail (the German UI really mixes German and English labels)
    fields = ([("Von", fr), ("Date", s["de_gmail"]), ("Subject", h["subject"]), ("To", f"<{h['to']}>")] if de else
              [("From", fr), ("Date", s["en_gmail"]), ("Subject", h["subject"]), ("To", f"<{h['to']}>")])
    return {"marker": "---------- Forwarded message ---------", "fields": fields, "sentence": None, "prefix": False}


def bank_reply_text(rng: random.Random, lang: str, persona: Persona, lob: str, text: str, auto: bool,
                    ctx: Ctx) -> str:
    if lob == "business" and rng.random() < 0.5:
        salutation = "Sehr geehrte Damen und Herren," if lang == "de" else "Dear Sir or Madam,"
    elif lang == "de" and rng.random() < 0.3:
        salutation = ("Guten Tag Frau " if persona.female else "Guten Tag Herr ") + persona.last + ","
    else:
        salutation = persona.salutation(lang)
    body = ctx.fill(text)
    if lang == "de":
        sign = "Mit freundlichen Grüßen\n\n" + ("Ihr Kundenservice der Nordhafen Bank" if auto else
                                                 f"{rng.choice(BANK_AGENTS)}\nKundenservice")
        footer = "Nordhafen Bank AG\nÜberseering 101 · 22297 Hamburg\nTelefon +49 40 5555 0100 · www.nordhafen-bank.example"
        legal = ("Nordhafen Bank AG · Sitz Hamburg · Amtsgericht Hamburg HRB 199999 · Vorstand: Dr. Katrin Albers "
                 "(Vorsitzende), Jens Okafor · Vorsitzender des Aufsichtsrats: Heinrich Lammers")
    else:
        sign = "Kind regards\n\n" + ("Your Nordhafen Bank customer service" if auto else
                                     f"{rng.choice(BANK_AGENTS)}\nCustomer Service")
        footer = "Nordhafen Bank AG\nÜberseering 101 · 22297 Hamburg · Germany\nPhone +49 40 5555 0100 · www.nordhafen-bank.example"
        legal = ("Nordhafen Bank AG · Registered office: Hamburg · Amtsgericht Hamburg HRB 199999 · "
                 "Management Board: Dr. Katrin Albers (Chair), Jens Okafor")
    parts = [salutation, body, sign]
    if rng.random() < 0.7:
        parts.append(footer)
    if rng.random() < 0.35:
        parts.append(legal)
    return "\n\n".join(parts)


def wrap(text: str, width: int) -> str:
    out = []
    for line in text.split("\n"):
        if len(line) > width:
            out.append(textwrap.fill(line, width, break_long_words=False, break_on_hyphens=False))
        else:
            out.append(line)
    return "\n".join(out)


LATIN1_FIX = str.maketrans({"€": "EUR", "–": "-", "„": '"', "“": '"', "”": '"', "’": "'", "…": "..."})


class Email:
    """One generated message: labels, header data and the structured parts of its text."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def compose(rng: random.Random, spec: dict, isins: dict) -> Email:
    tpl, lang, lob = spec["tpl"], spec["lang"], spec["lob"]
    topic, when = tpl["topic"], spec["when"]
    persona = Persona(rng, lang, lob, tpl["org"])
    ctx = Ctx(rng, lang, persona, when, tpl["sec"], isins)
    tone = tpl["tone"]
    mailer = wchoice(rng, MAILERS)
    mobile_mailer = mailer in ("ios", "android")

    body = ctx.fill(tpl["text"])
    # occasional extra lines that real clients add
    r = rng.random()
    if r < 0.08:
        body += "\n\n" + rng.choice(["Meine Kundennummer: {custno}", "Kd.-Nr. {custno}", "Kundennummer {custno}"]
                                     if lang == "de" else ["Customer number: {custno}", "My customer no. is {custno}."]
                                     ).replace("{custno}", ctx.get("custno"))
    elif r < 0.12 and lob != "brokerage":
        body += "\n\n" + (f"Konto: {ctx.get('iban')}" if lang == "de" else f"Account: {ctx.get('iban')}")
    elif r < 0.16 and tone not in ("angry", "terse"):
        body += "\n\n" + rng.choice(["Vielen Dank für Ihre Hilfe!", "Danke vorab.", "Ich freue mich auf Ihre Rückmeldung."]
                                    if lang == "de" else ["Thanks for your help!", "Thanks in advance.",
                                                          "Looking forward to hearing from you."])

    greeting = ""
    if rng.random() < GREET_PROB[tone]:
        greeting = rng.choice(GREETINGS[lang][tone])
        if lang == "de" and greeting.startswith("Sehr geehrte") and tone in ("neutral", "angry"):
            body = body[:1].lower() + body[1:] if body[:4] in ("Ich ", "Mein", "Die ", "Der ", "Das ", "Am ",
                                                               "Bei ", "Im ", "Für ") else body
    if not greeting or lang == "en":
        body = capitalize_first(body)
    if lang == "en" and greeting in ("Hi", "Hello"):
        greeting += rng.choice(["", ",", " -"])

    closing = name = ""
    if rng.random() < CLOSE_PROB[tone]:
        closing = rng.choice(CLOSINGS[lang][tone])
        if rng.random() < 0.93:
            name = name_line(rng, persona, lang, tone, lob)
    elif rng.random() < 0.35:
        name = persona.first if tone in ("casual", "terse") else persona.name

    sig = None
    sig_delim = rng.random() < 0.55
    sig_prob = 0.78 if lob == "business" else 0.29
    if mobile_mailer:
        sig_prob /= 4
    if rng.random() < sig_prob:
        sig = signature_lines(rng, persona, lang, lob, ctx)

    mobile = ""
    if mobile_mailer and rng.random() < 0.93:
        mobile = rng.choice(MOBILE_SIGS[(lang, mailer)])

    disclaimer = ""
    if lob == "business" and not mobile_mailer and rng.random() < 0.7:
        disclaimer = make_disclaimer(rng, lang, persona.company, persona.company_slug, persona.gf)
    elif lob != "business" and not mobile_mailer and rng.random() < 0.045:
        company, cslug, gf = rng.choice(EMPLOYERS)     # a private client writing from the office
        disclaimer = make_disclaimer(rng, lang, company, cslug, gf)
        if sig is not None and rng.random() < 0.7:
            sig = [persona.name, rng.choice(["Projektleitung", "Referent Einkauf", "Sachbearbeitung"]
                                            if lang == "de" else ["Project Manager", "Senior Analyst"]), company]

    # subject
    base_subject = ctx.fill(rng.choice(tpl["subjects"]))
    if rng.random() < 0.05:
        base_subject = ""
    elif rng.random() < 0.06:
        base_subject = base_subject.lower()

    bank_name_de = rng.choice(["Nordhafen Bank Kundenservice", "Nordhafen Bank", "Kundenservice Nordhafen Bank"])
    bank_name_en = rng.choice(["Nordhafen Bank Customer Service", "Nordhafen Bank"])
    bank_name = bank_name_de if lang == "de" else bank_name_en
    to_addr = rng.choice([f"service@{BANK_DOMAIN}", f"service@{BANK_DOMAIN}", f"kundenservice@{BANK_DOMAIN}"])

    quote = forward = None
    bottom = False
    subject = base_subject
    reply_prefix = {"outlook": "AW: ", "owa": "AW: ", "android": "AW: ", "webmail": "Aw: ",
                    "gmail": "Re: ", "apple": "Re: ", "ios": "Re: ", "thunderbird": "Re: "}[mailer] \
        if lang == "de" else {"outlook": "RE: ", "owa": "RE: "}.get(mailer, "Re: ")
    fwd_prefix = ("WG: " if mailer in ("outlook", "owa", "android", "webmail", "apple", "ios") else "Fwd: ") \
        if lang == "de" else ("FW: " if mailer in ("outlook", "owa") else "Fwd: ")
    r = rng.random()
    if r < 0.30:
        # the quoted bank reply: an acknowledgement / request for details (any topic), an answer on
        # this very topic, or (about 15%) an old thread on another matter that the client reuses
        own = reply_groups_for(topic, tpl["q"] or default_queue(topic, lob))
        x = rng.random()
        if x < 0.15:
            group, kind = rng.choice([g for g in BANK_REPLIES[lang] if g not in [*own, "generic"]]), "cross"
        elif x < 0.5 and own:
            group, kind = rng.choice(own), "topic"
        else:
            group, kind = "generic", "generic"
        q_subj, auto, q_text = rng.choice(BANK_REPLIES[lang][group])
        q_subj = ctx.fill(q_subj)
        if kind == "generic" and not auto and base_subject and rng.random() < 0.5:
            q_subj = ("AW: " if lang == "de" else "RE: ") + base_subject
        elif kind == "generic" and auto and base_subject and rng.random() < 0.5:
            q_subj = ("Eingangsbestätigung: " if lang == "de" else "Acknowledgement: ") + base_subject
        q_day = business_day_before(when, rng, 1, 12)
        q_dt = with_tz(dt.datetime(q_day.year, q_day.month, q_day.day, rng.randint(8, 17),
                                   rng.randint(0, 59), rng.randint(0, 59)))
        addr = f"noreply@{BANK_DOMAIN}" if auto else f"service@{BANK_DOMAIN}"
        quote = {"kind": "reply", "dt": q_dt, "from_name": bank_name, "from_addr": addr,
                 "to": persona.email, "subject": q_subj,
                 "text": bank_reply_text(rng, lang, persona, lob, q_text, auto, ctx),
                 "thread_id": f"{rng.getrandbits(64):016x}.{rng.randint(1000, 9999)}@{BANK_DOMAIN}"}
        subject = reply_prefix + q_subj
        if rng.random() < 0.12:
            subject = reply_prefix + subject
        bottom = mailer in ("gmail", "thunderbird", "apple") and rng.random() < 0.12
    elif r < 0.36:
        f_dt = with_tz((when - dt.timedelta(days=rng.randint(3, 12), hours=rng.randint(0, 5))).replace(tzinfo=None))
        wrapper = rng.choice(FORWARD_WRAPPERS[lang]).replace("{d}", fmt_date(f_dt.date(), lang, ctx.date_style))
        if rng.random() < 0.5:
            wrapper += "\n\n" + rng.choice(["Gruß", "Viele Grüße", "MfG"] if lang == "de" else
                                            ["Thanks", "Regards", "Best"]) + "\n" + persona.first
        forward = {"kind": "forward", "dt": f_dt, "from_name": persona.name, "from_addr": persona.email,
                   "to": to_addr, "subject": base_subject, "wrapper": wrapper}
        subject = (fwd_prefix + base_subject).strip()
    elif r < 0.385 and base_subject:
        subject = reply_prefix + base_subject     # answered an old thread, quote deleted

    return Email(topic=topic, lang=lang, lob=lob, tpl=tpl, tone=tone, persona=persona, when=when,
                 mailer=mailer, greeting=greeting, body=body, closing=closing, name=name, sig=sig,
                 sig_delim=sig_delim, mobile=mobile, disclaimer=disclaimer, quote=quote, forward=forward,
                 bottom=bottom, subject=subject, to_addr=to_addr, bank_name=bank_name, ctx=ctx,
                 queue=tpl["q"] or default_queue(topic, lob))


# ---------------------------------------------------------------------------------------------
# Rendering: plain text
# ---------------------------------------------------------------------------------------------

def render_main_plain(e: Email) -> str:
    blocks = []
    if e.greeting:
        blocks.append(e.greeting)
    blocks.append(e.body)
    if e.closing or e.name:
        blocks.append("\n".join(x for x in (e.closing, e.name) if x))
    text = "\n\n".join(blocks)
    if e.sig:
        text += "\n\n" + ("-- \n" if e.sig_delim else "") + "\n".join(e.sig)
    return text


def render_header_plain(hb: dict) -> str:
    if hb["sentence"]:
        return hb["sentence"]
    lines = []
    if hb["marker"]:
        lines.append(hb["marker"])
        if hb.get("blank_after_marker"):
            lines.append("")
    tab = "\t" if hb["marker"] and hb["marker"].startswith("--------") else ""
    lines += [f"{label}: {tab}{value}" for label, value in hb["fields"]]
    return "\n".join(lines)


def render_plain(e: Email, wrap_width: int | None) -> str:
    main = render_main_plain(e)
    if wrap_width:
        main = wrap(main, wrap_width)
    tail = [x for x in (e.mobile, e.disclaimer) if x]
    if e.forward:
        hb = header_block(e.mailer, e.lang, "forward", e.forward)
        outer = e.forward["wrapper"]
        outer = capitalize_first(outer)
        text = "\n\n".join([outer, *tail, render_header_plain(hb), main])
        return text
    text = "\n\n".join([main, *tail])
    if e.quote:
        hb = header_block(e.mailer, e.lang, "reply", e.quote)
        qtext = e.quote["text"]
        if hb["prefix"]:
            qtext = wrap(qtext, (wrap_width or 76) - 2) if wrap_width else qtext
            qtext = "\n".join("> " + line if line else ">" for line in qtext.split("\n"))
            header = render_header_plain(hb)
            if e.bottom:
                return header + "\n" + qtext + "\n\n" + text
            return text + "\n\n" + header + "\n" + qtext
        return text + "\n\n" + render_header_plain(hb) + "\n\n" + qtext
    return text


# ---------------------------------------------------------------------------------------------
# Rendering: HTML (Outlook, Outlook Web, Gmail, Apple Mail, Thunderbird, web mailer styles)
# ---------------------------------------------------------------------------------------------

ENTITY_MAP = {"ä": "&auml;", "ö": "&ouml;", "ü": "&uuml;", "Ä": "&Auml;", "Ö": "&Ouml;", "Ü": "&Uuml;",
              "ß": "&szlig;", "€": "&euro;", "–": "&ndash;", "„": "&bdquo;", "“": "&ldquo;"}


def esc(text: str, entities: bool = False) -> str:
    out = html.escape(text, quote=False)
    if entities:
        out = "".join(ENTITY_MAP.get(ch, ch) for ch in out)
    return out


def paras_html(text: str, mailer: str, entities: bool) -> str:
    paras = text.split("\n\n")

    def lines(p):
        return "<br>\n".join(esc(line, entities) for line in p.split("\n"))
    if mailer == "outlook":
        return "\n".join(f'<p class="MsoNormal">{lines(p)}<o:p></o:p></p>\n<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
                         for p in paras)
    if mailer in ("owa", "android"):
        style = "font-family: Aptos, Calibri, Helvetica, sans-serif; font-size: 12pt; color: rgb(0, 0, 0);"
        return "\n".join(f'<div class="elementToProof" style="{style}">{lines(p)}</div>\n'
                         f'<div class="elementToProof" style="{style}"><br></div>' for p in paras)
    if mailer == "thunderbird":
        return "\n".join(f"<p>{lines(p)}</p>" for p in paras)
    if mailer == "webmail":
        return "\n".join(f"<div>{lines(p)}</div>\n<div>&nbsp;</div>" for p in paras)
    return "\n".join(f"<div>{lines(p)}</div>\n<div><br></div>" for p in paras)   # gmail, apple, ios


def header_html(hb: dict, mailer: str, entities: bool) -> str:
    if hb["sentence"]:
        return esc(hb["sentence"], entities)
    rows = "<br>\n".join(f"<b>{esc(label)}:</b> {esc(value, entities)}" for label, value in hb["fields"])
    marker = f"{esc(hb['marker'], entities)}<br>\n" if hb["marker"] and not hb["marker"].startswith("____") else ""
    return marker + rows


def quote_html(hb: dict, inner_html: str, mailer: str, entities: bool, mid: str) -> str:
    head = header_html(hb, mailer, entities)
    if mailer == "outlook":
        return ('<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
                f'<p class="MsoNormal">{head}<o:p></o:p></p>\n</div>\n'
                f'<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n{inner_html}')
    if mailer in ("owa", "android"):
        return ('<hr style="display:inline-block;width:98%" tabindex="-1">\n'
                '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
                f'color="#000000">{head}</font>\n<div>&nbsp;</div>\n</div>\n<div>{inner_html}</div>')
    if mailer == "gmail":
        return ('<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
                f'{head}<br></div>\n<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
                f'border-left:1px solid rgb(204,204,204);padding-left:1ex">\n{inner_html}\n</blockquote></div>')
    if mailer in ("apple", "ios"):
        return (f'<div dir="ltr"><br><blockquote type="cite">{head}<br><br></blockquote></div>\n'
                f'<blockquote type="cite"><div dir="ltr">{inner_html}</div></blockquote>')
    if mailer == "thunderbird":
        return (f'<div class="moz-cite-prefix">{head}<br></div>\n<blockquote type="cite" cite="mid:{mid}">'
                f"\n{inner_html}\n</blockquote>")
    return ('<div name="quote" style="margin:10px 5px 5px 10px; padding: 10px 0 10px 10px; '
            'border-left:2px solid #C3D9E5; word-wrap: break-word;">\n'
            f'<div style="margin:0 0 10px 0;">{head}</div>\n<div name="quoted-content">{inner_html}</div>\n</div>')


def forward_html(hb: dict, inner_html: str, mailer: str, entities: bool) -> str:
    head = header_html(hb, mailer, entities)
    if mailer == "gmail":
        return (f'<div class="gmail_quote"><div dir="ltr" class="gmail_attr">{head}<br></div>'
                f"<br><br>\n{inner_html}</div>")
    if mailer in ("apple", "ios"):
        return f'<div><br><blockquote type="cite"><div>{head}</div><br>\n{inner_html}</blockquote></div>'
    if mailer == "outlook":
        return ('<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">\n'
                f'<p class="MsoNormal">{head}<o:p></o:p></p>\n</div>\n{inner_html}')
    return f'<div class="moz-forward-container">{head}<br><br>\n{inner_html}</div>'


def main_html(e: Email, entities: bool) -> str:
    blocks = []
    if e.greeting:
        blocks.append(e.greeting)
    blocks.append(e.body)
    if e.closing or e.name:
        blocks.append("\n".join(x for x in (e.closing, e.name) if x))
    out = paras_html("\n\n".join(blocks), e.mailer, entities)
    if e.sig:
        sig_lines = (["-- "] if e.sig_delim else []) + e.sig
        body = "<br>\n".join(esc(line, entities) for line in sig_lines)
        if e.mailer == "outlook":
            first, *rest = e.sig
            body = (("-- <br>\n" if e.sig_delim else "") +
                    f'<b><span style="color:#1F3864">{esc(first, entities)}</span></b><br>\n' +
                    '<span style="font-size:9.0pt;color:#595959">' +
                    "<br>\n".join(esc(line, entities) for line in rest) + "</span>")
            out += f'\n<p class="MsoNormal">{body}<o:p></o:p></p>'
        elif e.mailer == "gmail":
            out += f'\n<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature">{body}</div>'
        elif e.mailer == "thunderbird":
            out += f'\n<div class="moz-signature">{body}</div>'
        else:
            out += f'\n<div class="signature">{body}</div>'
    return out


def html_document(e: Email, entities: bool, tracking: str | None, mid: str) -> str:
    de = e.lang == "de"
    inner = main_html(e, entities)
    if e.mobile:
        inner += f'\n<div dir="ltr"><br>{esc(e.mobile, entities)}</div>'
    if e.disclaimer:
        disc = "<br><br>\n".join(esc(p, entities) for p in e.disclaimer.split("\n\n"))
        inner += f'\n<p style="font-size:8pt;color:#7F7F7F;font-family:Arial,sans-serif">{disc}</p>'
    if e.forward:
        hb = header_block(e.mailer, e.lang, "forward", e.forward)
        wrapper = paras_html(capitalize_first(e.forward["wrapper"]), e.mailer, entities)
        inner = wrapper + "\n" + forward_html(hb, inner, e.mailer, entities)
    elif e.quote:
        hb = header_block(e.mailer, e.lang, "reply", e.quote)
        q_inner = paras_html(e.quote["text"], e.mailer, entities)
        inner += "\n" + quote_html(hb, q_inner, e.mailer, entities, e.quote["thread_id"])
    if tracking:
        inner += f'\n<img src="{tracking}" width="1" height="1" alt="" style="display:none;border:0">'
    lang_attr = "DE" if de else "EN-US"
    if e.mailer == "outlook":
        style = ("<style><!--\n/* Font Definitions */\n@font-face {font-family:\"Cambria Math\";}\n"
                 "@font-face {font-family:Calibri;}\n"
                 "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; "
                 "font-family:\"Calibri\",sans-serif; mso-ligatures:standardcontextual;}\n"
                 "a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1; text-decoration:underline;}\n"
                 "span.E-MailFormatvorlage17 {mso-style-type:personal-compose; font-family:\"Calibri\",sans-serif;}\n"
                 ".MsoChpDefault {mso-style-type:export-only; font-size:10.0pt;}\n"
                 "@page WordSection1 {size:612.0pt 792.0pt; margin:70.85pt 70.85pt 2.0cm 70.85pt;}\n"
                 "div.WordSection1 {page:WordSection1;}\n--></style>")
        return ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
                'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">\n'
                '<head>\n<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
                '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
                f"{style}\n</head>\n<body lang=\"{lang_attr}\" link=\"#0563C1\" vlink=\"#954F72\" "
                f'style="word-wrap:break-word">\n<div class="WordSection1">\n{inner}\n</div>\n</body>\n</html>\n')
    if e.mailer in ("owa", "android"):
        style = ('<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>')
        return ('<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
                f'{style}\n</head>\n<body dir="ltr">\n{inner}\n</body>\n</html>\n')
    if e.mailer == "webmail":
        style = ('<style type="text/css">body { font-family: Verdana, Geneva, sans-serif; font-size: 12px; }\n'
                 'div.signature { color: #555555; font-size: 11px; }</style>')
        return ('<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset={charset}">\n'
                f'{style}\n</head>\n<body><div style="font-family: Verdana;font-size: 12.0px;">\n'
                f"{inner}\n</div></body>\n</html>\n")
    if e.mailer == "thunderbird":
        return ('<!DOCTYPE html>\n<html>\n<head>\n<meta http-equiv="content-type" content="text/html; charset={charset}">\n'
                '<style>body { font-family: sans-serif; } blockquote { margin-left: 0.5em; }</style>\n'
                f"</head>\n<body>\n{inner}\n</body>\n</html>\n")
    if e.mailer in ("apple", "ios"):
        return ('<html><head><meta http-equiv="content-type" content="text/html; charset={charset}"></head>'
                f'<body dir="auto">\n{inner}\n</body></html>\n')
    return f'<div dir="ltr">\n{inner}\n</div>\n'     # gmail sends a bare fragment


# ---------------------------------------------------------------------------------------------
# MIME packaging
# ---------------------------------------------------------------------------------------------

def tiny_png(rng: random.Random) -> bytes:
    w, h = 4, 3
    colour = bytes([rng.randint(0, 255) for _ in range(3)])
    raw = b"".join(b"\x00" + colour * w for _ in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def tiny_pdf(title: str) -> bytes:
    text = f"Nordhafen Bank - {title} (fiktives Beispieldokument)".encode("ascii", "replace")
    stream = b"BT /F1 11 Tf 40 800 Td (" + text + b") Tj ET"
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
            b"4 0 obj\n<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream +
            b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


MAILER_HEADERS = {
    "outlook": ("X-Mailer", "Microsoft Outlook 16.0"),
    "owa": ("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
    "apple": ("X-Mailer", "Apple Mail (2.3826.400.131.1.6)"),
    "ios": ("X-Mailer", "iPhone Mail (22D72)"),
    "thunderbird": ("User-Agent", "Mozilla Thunderbird"),
    "webmail": ("X-Mailer", "Nordportal Webmail 7.4"),
    "android": ("X-Mailer", "Outlook for Android"),
}


def build_raw(rng: random.Random, e: Email, message_id: str, raw_kind: str, attachment) -> tuple[str, str]:
    """Returns (raw RFC 822 source, description of the format)."""
    latin1 = (e.lang == "de" and e.mailer in ("outlook", "thunderbird", "webmail") and rng.random() < 0.45)
    plain = render_plain(e, 72 if e.mailer in ("thunderbird", "gmail") else None)
    entities = e.mailer == "webmail" and rng.random() < 0.7
    tracking = None
    if raw_kind in ("html", "alternative") and (e.lob == "business" or rng.random() < 0.25) and rng.random() < 0.6:
        tracking = f"https://t.{rng.choice(['example.com', 'example.net'])}/o/{rng.getrandbits(48):012x}.gif"
    html_src = html_document(e, entities, tracking, message_id) if raw_kind in ("html", "alternative") else None
    charset = "utf-8"
    if latin1:
        try:
            plain_l = plain.translate(LATIN1_FIX)
            plain_l.encode("iso-8859-1")
            html_l = html_src.translate(LATIN1_FIX) if html_src else None
            if html_l:
                html_l.encode("iso-8859-1")
            plain, html_src, charset = plain_l, html_l, "iso-8859-1"
        except UnicodeEncodeError:
            pass
    if html_src:
        html_src = html_src.replace("{charset}", charset)

    msg = EmailMessage()
    if rng.random() < 0.6:
        msg["Received"] = (f"from mail.{rng.choice(['example.de', 'example.com', 'example.org'])} "
                           f"(mail.example [192.0.2.{rng.randint(2, 254)}]) by mx1.{BANK_DOMAIN} with ESMTPS; "
                           f"{format_datetime(e.when)}")
    msg["From"] = e.persona.sender
    msg["To"] = (f"Nordhafen Bank Kundenservice <{e.to_addr}>" if e.lang == "de" and rng.random() < 0.5
                 else e.to_addr)
    msg["Subject"] = e.subject
    msg["Date"] = format_datetime(e.when)
    msg["Message-ID"] = f"<{message_id}@mail.example.de>"
    if e.quote:
        msg["In-Reply-To"] = f"<{e.quote['thread_id']}>"
        msg["References"] = f"<{e.quote['thread_id']}>"
    if e.mailer in MAILER_HEADERS:
        name, value = MAILER_HEADERS[e.mailer]
        msg[name] = value
    if e.mailer in ("outlook", "owa"):
        msg["Content-Language"] = "de-DE" if e.lang == "de" else "en-US"

    text_cte = "quoted-printable" if (charset != "utf-8" or rng.random() < 0.7) else "base64"
    html_cte = "quoted-printable" if (charset != "utf-8" or rng.random() < 0.8) else "base64"
    if raw_kind == "plain":
        msg.set_content(plain, charset=charset, cte=text_cte)
    elif raw_kind == "html":
        msg.set_content(html_src, subtype="html", charset=charset, cte=html_cte)
    else:
        msg.set_content(plain, charset=charset, cte=text_cte)
        msg.add_alternative(html_src, subtype="html", charset=charset, cte=html_cte)
    desc = f"{raw_kind}/{charset}"
    if attachment:
        filename, data = attachment
        maintype, subtype = ("image", "png") if filename.endswith(".png") else ("application", "pdf")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
        desc += "+attachment"
    for n, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"----=_Part_{n}_{rng.getrandbits(40):010x}.{rng.randint(1000000, 9999999)}")
    return msg.as_string(), desc


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

def generate(seed: int = SEED) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    isins = {s[0]: make_isin(rng, s[3]) for s in SECURITIES}
    specs = []
    for topic, count in TOPIC_COUNTS.items():
        first = rng.choice(["de", "en"])
        second = "en" if first == "de" else "de"
        queues: dict[str, list] = {"de": [], "en": []}
        for i in range(count):
            lang = first if i % 2 == 0 else second
            if not queues[lang]:
                pool = list(TEMPLATES[(topic, lang)])
                rng.shuffle(pool)
                queues[lang] = pool
            tpl = queues[lang].pop()
            specs.append({"tpl": tpl, "lang": lang, "lob": rng.choice(tpl["lobs"]),
                          "when": random_when(rng, topic)})
    specs.sort(key=lambda s: (s["when"], s["tpl"]["topic"], s["lang"]))
    raw_ids = set(rng.sample(range(len(specs)), round(0.30 * len(specs))))

    records, meta = [], []
    for i, spec in enumerate(specs):
        message_id = f"nhb-2026-{i + 1:06d}"
        e = compose(rng, spec, isins)
        fmt = "plain"
        if i in raw_ids:
            raw_kind = wchoice(rng, RAW_KINDS[e.mailer])
            attachment = None
            if rng.random() < 0.18:
                de_name, en_name = rng.choice(ATTACHMENTS[TOPIC_GROUP[e.topic]])
                filename = de_name if e.lang == "de" else en_name
                ext = filename.rsplit(".", 1)[1]
                data = tiny_png(rng) if ext == "png" else tiny_pdf(filename)
                attachment = (filename, data)
                if not re.search(r"anhang|anbei|hänge|füge|attach", e.body, re.I):
                    e.body += "\n\n" + rng.choice(ATTACH_MENTION[(e.lang, ext)])
            raw, fmt = build_raw(rng, e, message_id, raw_kind, attachment)
        record = {"message_id": message_id, "subject": e.subject, "sender": e.persona.sender,
                  "received_at": e.when.isoformat()}
        if fmt == "plain":
            width = 72 if e.mailer == "thunderbird" else (76 if e.mailer == "gmail" and rng.random() < 0.5 else None)
            record["body"] = render_plain(e, width)
        else:
            record["raw"] = raw
        record.update(line_of_business=e.lob, queue=e.queue, topic=e.topic)
        records.append(record)
        meta.append({"lang": e.lang, "mailer": e.mailer, "format": fmt, "client_text": e.body,
                     "quote": bool(e.quote), "forward": bool(e.forward),
                     "signoff_name": bool(e.closing and e.name), "signature": bool(e.sig),
                     "disclaimer": bool(e.disclaimer), "mobile": bool(e.mobile),
                     "exception": e.queue != default_queue(e.topic, e.lob),
                     "empty_subject": not e.subject.strip(), "tone": e.tone})
    return records, meta


# ---------------------------------------------------------------------------------------------
# Validation and statistics
# ---------------------------------------------------------------------------------------------

def load_taxonomy(path: Path = TAXONOMY_PATH) -> dict[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # optional: PyYAML from the project venv
    except ImportError:
        yaml = None
    if yaml is not None:
        data = yaml.safe_load(text)
        return {ls["name"]: [c["name"] for c in ls["classes"]] for ls in data["label_sets"]}
    sets: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^  - name: (\S+)", line)
        if m:
            current = m.group(1)
            sets[current] = []
            continue
        m = re.match(r"^      - name: (\S+)", line)
        if m and current:
            sets[current].append(m.group(1))
    return sets


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.translate(LATIN1_FIX)).strip()


def html_to_text(src: str) -> str:
    src = re.sub(r"(?is)<(style|head)[^>]*>.*?</\1>", " ", src)
    return html.unescape(re.sub(r"<[^>]+>", " ", src))


def validate(path: Path, meta: list[dict]) -> list[str]:
    errors: list[str] = []
    taxonomy = load_taxonomy()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(records) != len(meta):
        errors.append(f"{len(records)} records on disk, {len(meta)} generated")
    if len(records) < 420:
        errors.append(f"only {len(records)} records (< 420)")
    ids = [r.get("message_id") for r in records]
    if len(set(ids)) != len(ids) or not all(ids):
        errors.append("message_id missing or not unique")
    allowed_domains = {"example.de", "example.com", "example.org"}
    for rec, m in zip(records, meta, strict=False):
        mid = rec.get("message_id")
        keys = set(rec)
        expected = set(RECORD_KEYS_RAW if "raw" in rec else RECORD_KEYS_PLAIN)
        if keys != expected or ("raw" in rec) == ("body" in rec):
            errors.append(f"{mid}: keys {sorted(keys)}")
        for label_set in ("line_of_business", "queue", "topic"):
            if rec.get(label_set) not in taxonomy.get(label_set, []):
                errors.append(f"{mid}: {label_set}={rec.get(label_set)!r} not in taxonomy")
        addr = re.search(r"<?([^<>\s\"]+@([^<>\s\"]+))>?\s*$", rec["sender"])
        if not addr or addr.group(2) not in allowed_domains:
            errors.append(f"{mid}: sender domain {rec['sender']!r}")
        when = dt.datetime.fromisoformat(rec["received_at"])
        if when.tzinfo is None or not (dt.date(2026, 1, 1) <= when.date() <= dt.date(2026, 10, 31)):
            errors.append(f"{mid}: received_at {rec['received_at']}")
        needle = normalise(m["client_text"])[1:41]
        if "raw" in rec:
            raw = rec["raw"]
            legacy = email.message_from_string(raw)
            for part in legacy.walk():
                if part.defects:
                    errors.append(f"{mid}: MIME defects {part.defects}")
            msg = email.message_from_string(raw, policy=policy.default)
            for part in msg.walk():
                if part.defects:
                    errors.append(f"{mid}: MIME defects {part.defects}")
                for name, value in part.items():
                    if getattr(value, "defects", None):
                        errors.append(f"{mid}: header {name} defects {value.defects}")
            for header in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"):
                if msg[header] is None:
                    errors.append(f"{mid}: raw lacks {header}")
            if str(msg["Subject"]) != rec["subject"]:
                errors.append(f"{mid}: Subject {str(msg['Subject'])!r} != {rec['subject']!r}")
            if str(msg["Message-ID"]) != f"<{mid}@mail.example.de>":
                errors.append(f"{mid}: Message-ID {msg['Message-ID']}")
            if msg["Date"].datetime != when:
                errors.append(f"{mid}: Date {msg['Date']} != {rec['received_at']}")
            if msg["From"].addresses[0].addr_spec != addr.group(1):
                errors.append(f"{mid}: From {msg['From']} != {rec['sender']}")
            body_part = msg.get_body(preferencelist=("plain", "html"))
            content = body_part.get_content()
            if body_part.get_content_subtype() == "html":
                content = html_to_text(content)
            if needle not in normalise(content):
                errors.append(f"{mid}: client text not found in decoded body")
        else:
            if needle not in normalise(rec["body"]):
                errors.append(f"{mid}: client text not found in body")
    topic_counts = Counter(r["topic"] for r in records)
    for topic in taxonomy["topic"]:
        if topic_counts[topic] < 22:
            errors.append(f"topic {topic}: only {topic_counts[topic]} records")
    lob_counts = Counter(r["line_of_business"] for r in records)
    for lob in taxonomy["line_of_business"]:
        if lob_counts[lob] < 80:
            errors.append(f"line_of_business {lob}: only {lob_counts[lob]} records")
    per_topic_lang = Counter((r["topic"], m["lang"]) for r, m in zip(records, meta, strict=False))
    for topic in taxonomy["topic"]:
        if abs(per_topic_lang[(topic, "de")] - per_topic_lang[(topic, "en")]) > 1:
            errors.append(f"topic {topic}: language mix {per_topic_lang[(topic, 'de')]}/{per_topic_lang[(topic, 'en')]}")
    for (topic, lang), templates in sorted(TEMPLATES.items()):
        if len(templates) < 8:
            errors.append(f"{topic}/{lang}: only {len(templates)} hand-written messages")
    return errors


def statistics(records: list[dict], meta: list[dict], markdown: bool) -> str:
    taxonomy = load_taxonomy()
    n = len(records)
    out: list[str] = []

    def table(title, header, rows):
        if markdown:
            out.append(f"\n**{title}**\n")
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
            out.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
        else:
            out.append(f"\n{title}")
            widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
            out.append("  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=False)))
            out.extend("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows)

    by_lang = Counter(m["lang"] for m in meta)
    out.append(f"{n} records; de {by_lang['de']}, en {by_lang['en']}; "
               f"hand-written client messages: {sum(len(v) for v in TEMPLATES.values())} "
               f"({min(len(v) for v in TEMPLATES.values())}-{max(len(v) for v in TEMPLATES.values())} "
               f"per topic and language); seed {SEED}")
    for label_set in ("line_of_business", "queue", "topic"):
        rows = []
        for cls in taxonomy[label_set]:
            de = sum(1 for r, m in zip(records, meta, strict=False) if r[label_set] == cls and m["lang"] == "de")
            en = sum(1 for r, m in zip(records, meta, strict=False) if r[label_set] == cls and m["lang"] == "en")
            rows.append([cls, de + en, de, en])
        table(label_set, ["class", "total", "de", "en"], rows)
    rows = []
    for topic in taxonomy["topic"]:
        c = Counter(r["line_of_business"] for r in records if r["topic"] == topic)
        q = Counter(r["queue"] for r in records if r["topic"] == topic)
        rows.append([topic] + [c[lob] for lob in taxonomy["line_of_business"]] +
                    [", ".join(f"{k} {v}" for k, v in q.most_common())])
    table("topic x line_of_business, and queues per topic", ["topic"] + taxonomy["line_of_business"] + ["queues"], rows)
    exc = sum(m["exception"] for m in meta)
    fmt = Counter(m["format"] for m in meta)
    rows = [[k, v, f"{100 * v / n:.1f}%"] for k, v in sorted(fmt.items(), key=lambda kv: (-kv[1], kv[0]))]
    table("formats (plain = `body`, others = `raw` RFC 822: MIME structure / charset)", ["format", "count", "share"], rows)
    noise = [("queue differs from the topic's default queue", exc),
             ("quoted earlier bank reply", sum(m["quote"] for m in meta)),
             ("forwarded own earlier message", sum(m["forward"] for m in meta)),
             ("sign-off + name", sum(m["signoff_name"] for m in meta)),
             ("fuller signature block", sum(m["signature"] for m in meta)),
             ("legal disclaimer / impressum", sum(m["disclaimer"] for m in meta)),
             ("mobile signature", sum(m["mobile"] for m in meta)),
             ("empty subject", sum(m["empty_subject"] for m in meta))]
    table("noise", ["feature", "count", "share"], [[k, v, f"{100 * v / n:.1f}%"] for k, v in noise])
    mailers = Counter(m["mailer"] for m in meta)
    table("mail client styles", ["client", "count"], sorted(mailers.items(), key=lambda kv: -kv[1]))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument("--markdown", action="store_true", help="print statistics as Markdown tables")
    args = parser.parse_args(argv)
    records, meta = generate(SEED)
    with args.out.open("w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    errors = validate(args.out, meta)
    print(statistics(records, meta, args.markdown))
    if errors:
        print(f"\nVALIDATION FAILED ({len(errors)} problems):", file=sys.stderr)
        for err in errors[:50]:
            print("  " + err, file=sys.stderr)
        return 1
    print(f"\nvalidation OK: wrote {len(records)} records to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
