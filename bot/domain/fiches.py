"""A cité éducative's fiche: commune, département, région, agglomération, population,
quartiers prioritaires, collèges, contact, link — as the minutes of 11 May 2022 open a
cité's news with it.

A fiche belongs to a structure, named as members write it in their profile ("CE
Soissons"); its key is that name without case, accents or extra spaces. Every change is
a new row (the history); the latest is the fiche. Its members (profile structure) and
the room's facilitators may edit it. Blocking functions over a Session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot.storage.models import Fiche, Profile
from bot.support.errors import UserError
from bot.support.text import excerpt, normalize, safe_url


@dataclass(frozen=True)
class Key:
    name: str       # as written after "clé:" (accent-free)
    label: str      # as shown


KEYS = (
    Key("commune", "Commune"), Key("departement", "Département"), Key("region", "Région"),
    Key("agglomeration", "Agglomération"), Key("population", "Population"),
    Key("quartiers", "Quartiers prioritaires"), Key("colleges", "Collèges"),
    Key("contact", "Contact"), Key("lien", "Lien"),
)
ALIASES = {"college": "colleges", "quartier": "quartiers", "qpv": "quartiers", "site": "lien",
           "url": "lien", "agglo": "agglomeration", "dept": "departement", "ville": "commune"}
MAX_STRUCTURE = 120
MAX_VALUE = 300
MAX_POPULATION = 100_000_000
POPULATION_RE = re.compile(r"^(?P<digits>\d{1,3}(?:[ \u00a0\u202f.]\d{3})*|\d{1,9})(?:\s+habitants?)?$")


def keys_help() -> str:
    return ", ".join(k.name for k in KEYS)


def fiche_key(structure: str) -> str:
    return " ".join(normalize(structure).split())


def check_structure(text: str) -> str:
    structure = " ".join(text.split())
    if not structure:
        raise UserError("indiquez la structure, par exemple « CE Soissons ».")
    if len(structure) > MAX_STRUCTURE:
        raise UserError(f"le nom de la structure est trop long ({len(structure)} caractères ; "
                        f"{MAX_STRUCTURE} au plus).")
    return structure


def _population(value: str) -> str:
    match = POPULATION_RE.match(value.strip())
    number = int(re.sub(r"\D", "", match["digits"])) if match else None
    if number is None or not 0 < number <= MAX_POPULATION:
        raise UserError(f"population « {excerpt(value)} » : un nombre d'habitants, par exemple "
                        "« 48 000 ».")
    return f"{number:,}".replace(",", "\u202f")   # 48 000, French thin space


def parse_lines(lines: list[str]) -> dict[str, str]:
    """``clé: valeur`` lines → {key: value}; an empty value removes the key. Refused: an
    unknown key, a line without ":", a key given twice, a value too long, a bad number or link."""
    fields: dict[str, str] = {}
    known = {k.name for k in KEYS}
    for line in (line.strip() for line in lines):
        if not line:
            continue
        raw_key, colon, value = line.partition(":")
        name = " ".join(normalize(raw_key).split())
        name = ALIASES.get(name, name)
        if not colon or name not in known:
            raise UserError(f"« {excerpt(raw_key.strip() if colon else line)} » n'est pas une clé de fiche "
                            f"(clés : {keys_help()}).")
        if name in fields:
            raise UserError(f"la clé « {name} » est donnée deux fois.")
        value = " ".join(value.split())
        if len(value) > MAX_VALUE:
            raise UserError(f"la valeur de « {name} » est trop longue ({len(value)} caractères ; "
                            f"{MAX_VALUE} au plus).")
        if value and name == "population":
            value = _population(value)
        if value and name == "lien":
            url = safe_url(value)
            if not url:
                raise UserError(f"le lien « {excerpt(value)} » doit commencer par http:// ou https://.")
            value = url
        fields[name] = value
    if not fields:
        raise UserError(f"aucune ligne « clé: valeur » (clés : {keys_help()}).")
    return fields


def current(session: Session, structure: str, at: datetime | None = None) -> Fiche | None:
    """The structure's fiche (as it was at ``at`` when given)."""
    query = select(Fiche).where(Fiche.key == fiche_key(structure))
    if at is not None:
        query = query.where(col(Fiche.edited_at) <= at)
    return session.exec(query.order_by(col(Fiche.edited_at).desc(), col(Fiche.id).desc())).first()


def versions(session: Session, structure: str) -> int:
    return len(session.exec(select(Fiche.id).where(Fiche.key == fiche_key(structure))).all())


def may_edit(session: Session, user_id: str, structure: str, is_facilitator: bool) -> bool:
    """Facilitators, and members whose profile names this structure."""
    if is_facilitator:
        return True
    profile = session.get(Profile, user_id)
    return profile is not None and fiche_key(profile.structure) == fiche_key(structure)


def record(session: Session, structure: str, changes: dict[str, str], user_id: str,
           now: datetime) -> Fiche:
    """A new version: the current fields with the changes applied (empty = removed)."""
    previous = current(session, structure)
    fields = dict(previous.fields) if previous else {}
    for name, value in changes.items():
        if value:
            fields[name] = value
        else:
            fields.pop(name, None)
    fiche = Fiche(key=fiche_key(structure), structure=structure, fields=fields, edited_by=user_id,
                  edited_at=now)
    session.add(fiche)
    session.flush()
    return fiche


def lines_of(fiche: Fiche) -> tuple[tuple[str, str], ...]:
    """(label, value) in the fixed order of the keys (the minutes' order)."""
    return tuple((k.label, fiche.fields[k.name]) for k in KEYS if fiche.fields.get(k.name))
