"""Writes the demo's two sample files (deterministic: the same bytes on every run).

samples/crm_customers.csv and samples/billing_accounts.csv describe overlapping sets of
customers the way two real systems would: the billing side has typos, dropped or added
accents, "Last, First" and reordered names, different case, missing e-mails and phones,
reformatted phone numbers, and customers the other side does not know.

Usage: python scripts/make_samples.py [--rows 3000] [--out samples]
"""

from __future__ import annotations

import argparse
import csv
import random
import unicodedata
from dataclasses import dataclass
from pathlib import Path

SEED = 20250127

FIRST = [
    "José",
    "Maria",
    "François",
    "Zoë",
    "Björn",
    "Renée",
    "Mónica",
    "Łukasz",
    "Anna",
    "John",
    "Michael",
    "Sarah",
    "David",
    "Laura",
    "Peter",
    "Émilie",
    "Jürgen",
    "Søren",
    "Ana",
    "Luis",
    "Chloé",
    "Andrés",
    "Hélène",
    "Mikael",
    "Agnieszka",
    "Thomas",
    "Emma",
    "Oliver",
    "Sofia",
    "Mateo",
    "Noémie",
    "Kai",
    "Ingrid",
    "Raúl",
    "Beatriz",
    "Jean-Luc",
    "Siobhán",
    "Aoife",
    "Ryan",
    "Olga",
    "Dmitri",
    "Yusuf",
    "Aylin",
    "Hannah",
    "Lucas",
    "Mia",
    "Ethan",
    "Nora",
    "Élodie",
    "Pál",
    "Zsófia",
    "Nikolaj",
    "Grace",
    "Liam",
    "Isabel",
    "Tomás",
    "Inês",
    "Rui",
]
LAST = [
    "García",
    "Müller",
    "Smith",
    "O'Brien",
    "Nguyen",
    "Kowalski",
    "Dubois",
    "Rossi",
    "Jensen",
    "Fernández",
    "Schmidt",
    "Johnson",
    "Lefèvre",
    "Nowak",
    "Silva",
    "Hansen",
    "Martínez",
    "Williams",
    "Brown",
    "Petrov",
    "Y\u0131lmaz",
    "Novák",
    "Horváth",
    "Andersson",
    "Van der Berg",
    "De la Cruz",
    "MacDonald",
    "Fitzgerald",
    "Moreau",
    "Costa",
    "Pereira",
    "Öztürk",
    "Łęcki",
    "Weiß",
    "Schäfer",
    "Rodríguez",
    "López",
    "González",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Taylor",
    "Davies",
    "Evans",
    "Murphy",
    "Kelly",
    "Byrne",
    "Ryan",
    "Walsh",
    "Sørensen",
    "Bianchi",
    "Romano",
    "Ricci",
    "Greco",
    "Bauer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Koch",
]
CITIES = [
    ("Madrid", "28"),
    ("München", "80"),
    ("Paris", "75"),
    ("Dublin", "D0"),
    ("København", "1"),
    ("Kraków", "30"),
    ("Lisboa", "11"),
    ("Zürich", "80"),
    ("Wien", "10"),
    ("Göteborg", "41"),
    ("Montréal", "H2"),
    ("São Paulo", "01"),
    ("Köln", "50"),
    ("Sevilla", "41"),
    ("Lyon", "69"),
    ("Milano", "20"),
    ("Budapest", "10"),
    ("Praha", "11"),
    ("İstanbul", "34"),
    ("Boston", "02"),
]
STREETS = [
    "Main Street",
    "Calle Mayor",
    "Hauptstraße",
    "Rue de la Paix",
    "High Street",
    "Via Roma",
    "Avenida da Liberdade",
    "Königsallee",
    "Station Road",
    "Church Lane",
    "Rua Augusta",
    "Bahnhofstraße",
    "Grand Rue",
    "Market Square",
    "Mill Lane",
    "Park Avenue",
]
DOMAINS = ["example.com", "mail.example.org", "post.example.net", "inbox.example.eu"]


@dataclass
class Person:
    first: str
    last: str
    email: str
    phone: str
    street: str
    city: str
    zip: str
    birth_year: int


_NO_DECOMPOSITION = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "\u0131": "i", "æ": "ae"}
)


def ascii_fold(text: str) -> str:
    """What a system without accents makes of a name: José -> Jose, Søren -> Soren."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def make_person(rng: random.Random, index: int) -> Person:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, zip_prefix = rng.choice(CITIES)
    local = ascii_fold(f"{first}.{last}").lower().replace(" ", "").replace("'", "")
    return Person(
        first=first,
        last=last,
        email=f"{local}{index % 997}@{rng.choice(DOMAINS)}",
        phone=f"+{rng.randint(30, 49)} {rng.randint(100, 999)} {rng.randint(100000, 999999)}",
        street=f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
        city=city,
        zip=f"{zip_prefix}{rng.randint(100, 999)}",
        birth_year=rng.randint(1940, 2005),
    )


def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: a dropped, doubled, swapped or replaced letter."""
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    if kind == 2:
        return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]
    return text[:i] + rng.choice("aeiourstnl") + text[i + 1 :]


def billing_name(rng: random.Random, person: Person) -> str:
    first, last = person.first, person.last
    if rng.random() < 0.25:
        first, last = ascii_fold(first), ascii_fold(last)
    if rng.random() < 0.2:
        last = typo(rng, last)
    if rng.random() < 0.1:
        first = typo(rng, first)
    style = rng.random()
    if style < 0.35:
        name = f"{last}, {first}"
    elif style < 0.5:
        name = f"{last} {first}"
    elif style < 0.6:
        name = f"{first[0]}. {last}"
    else:
        name = f"{first} {last}"
    if rng.random() < 0.15:
        name = name.upper()
    elif rng.random() < 0.1:
        name = name.lower()
    return name


def billing_phone(rng: random.Random, phone: str) -> str:
    digits = phone.replace("+", "").replace(" ", "")
    style = rng.random()
    if style < 0.3:
        return "00" + digits
    if style < 0.5:
        return f"({digits[:2]}) {digits[2:5]}-{digits[5:]}"
    return phone


def write_samples(rows: int, out: Path) -> tuple[Path, Path]:
    rng = random.Random(SEED)
    people = [make_person(rng, i) for i in range(rows)]
    out.mkdir(parents=True, exist_ok=True)
    crm_path, billing_path = out / "crm_customers.csv", out / "billing_accounts.csv"

    # The CRM knows 90% of the people, the billing system 85% (with its own 10% extra).
    crm = [p for p in people if rng.random() < 0.9]
    billing = [p for p in people if rng.random() < 0.85]
    billing += [make_person(rng, rows + i) for i in range(rows // 10)]
    rng.shuffle(billing)

    with crm_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "customer_id",
                "customer_name",
                "email",
                "phone",
                "street",
                "city",
                "zip",
                "birth_year",
            ]
        )
        for i, p in enumerate(crm):
            writer.writerow(
                [
                    f"C{100000 + i}",
                    f"{p.first} {p.last}",
                    "" if rng.random() < 0.05 else p.email,
                    "" if rng.random() < 0.08 else p.phone,
                    p.street,
                    p.city,
                    p.zip,
                    p.birth_year,
                ]
            )

    with billing_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["account_no", "full_name", "email_address", "telephone", "address", "town", "postcode"]
        )
        for i, p in enumerate(billing):
            email = p.email.upper() if rng.random() < 0.1 else p.email
            writer.writerow(
                [
                    f"ACC-{rng.randint(0, 9)}{i:05d}",
                    billing_name(rng, p),
                    "" if rng.random() < 0.2 else email,
                    "" if rng.random() < 0.15 else billing_phone(rng, p.phone),
                    typo(rng, p.street) if rng.random() < 0.1 else p.street,
                    ascii_fold(p.city) if rng.random() < 0.3 else p.city,
                    p.zip,
                ]
            )
    return crm_path, billing_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="people in the common population")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "samples")
    args = parser.parse_args()
    for path in write_samples(args.rows, args.out):
        lines = sum(1 for _ in path.open(encoding="utf-8")) - 1
        print(f"{path}: {lines} rows, {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
