"""Time zones of the network's rooms: French names of the overseas zones, labels.

The programme is national: Guyane is at UTC−3, the Antilles at UTC−4, Mayotte at
UTC+3, La Réunion at UTC+4, Nouvelle-Calédonie at UTC+11. A room's zone is an IANA
name (``America/Cayenne``); a facilitator may type it, or the French name of the
territory (accents and case aside). Pure: no I/O.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from bot.support.errors import UserError
from bot.support.text import excerpt, normalize

HOME_ZONE = "Europe/Paris"   # announcements name the zone of any other room
MAX_ZONE_LENGTH = 64

# Accent-free, lowercase French names → IANA zone. Hyphens and spaces both accepted.
FRENCH_ZONES = {
    "metropole": "Europe/Paris", "france": "Europe/Paris", "paris": "Europe/Paris",
    "france metropolitaine": "Europe/Paris", "hexagone": "Europe/Paris",
    "corse": "Europe/Paris",
    "guyane": "America/Cayenne", "cayenne": "America/Cayenne",
    "martinique": "America/Martinique",
    "guadeloupe": "America/Guadeloupe",
    "saint martin": "America/Marigot",
    "saint barthelemy": "America/St_Barthelemy",
    "saint pierre et miquelon": "America/Miquelon",
    "reunion": "Indian/Reunion", "la reunion": "Indian/Reunion", "ile de la reunion": "Indian/Reunion",
    "saint denis de la reunion": "Indian/Reunion",
    "mayotte": "Indian/Mayotte", "mamoudzou": "Indian/Mayotte",
    "nouvelle caledonie": "Pacific/Noumea", "noumea": "Pacific/Noumea",
    "polynesie": "Pacific/Tahiti", "polynesie francaise": "Pacific/Tahiti", "tahiti": "Pacific/Tahiti",
    "marquises": "Pacific/Marquesas",
    "wallis et futuna": "Pacific/Wallis",
}  # fmt: skip

# IANA zone → how announcements name it ("heure de Guyane").
ZONE_LABELS = {
    "Europe/Paris": "heure de Paris",
    "America/Cayenne": "heure de Guyane",
    "America/Martinique": "heure de Martinique",
    "America/Guadeloupe": "heure de Guadeloupe",
    "America/Marigot": "heure de Saint-Martin",
    "America/St_Barthelemy": "heure de Saint-Barthélemy",
    "America/Miquelon": "heure de Saint-Pierre-et-Miquelon",
    "Indian/Reunion": "heure de La Réunion",
    "Indian/Mayotte": "heure de Mayotte",
    "Pacific/Noumea": "heure de Nouvelle-Calédonie",
    "Pacific/Tahiti": "heure de Polynésie",
    "Pacific/Marquesas": "heure des Marquises",
    "Pacific/Wallis": "heure de Wallis-et-Futuna",
}

EXAMPLES = "Guyane, Martinique, Guadeloupe, Réunion, Mayotte, Nouvelle-Calédonie, Polynésie"


@lru_cache(maxsize=1)
def _iana_by_lower() -> dict[str, str]:
    """Every IANA name the system knows, by its lowercase spelling."""
    return {name.lower(): name for name in available_timezones()}


def _french_key(text: str) -> str:
    return " ".join(normalize(text).replace("-", " ").replace("'", " ").split())


def parse_zone(text: str) -> str:
    """ "Guyane", "la Réunion", "america/cayenne" → the IANA name; else a :class:`~bot.support.errors.UserError`."""
    text = text.strip()
    if not text:
        raise UserError(f"indiquez un fuseau : un nom IANA (« America/Cayenne ») ou un territoire "
                        f"({EXAMPLES}).")
    if len(text) <= MAX_ZONE_LENGTH:
        french = FRENCH_ZONES.get(_french_key(text))
        if french is not None:
            return french
        iana = _iana_by_lower().get(text.replace(" ", "_").lower())
        if iana is not None and "/" in iana:
            ZoneInfo(iana)   # the name is known: it loads
            return iana
    raise UserError(f"fuseau inconnu : « {excerpt(text)} ». Indiquez un nom IANA (par exemple "
                    f"« America/Cayenne ») ou un territoire ({EXAMPLES}).")


def zone_label(key: str) -> str:
    """ "heure de Guyane"; an unnamed zone by its IANA name ("heure America/Lima")."""
    return ZONE_LABELS.get(key, f"heure {key}")


def zone_suffix(key: str) -> str:
    """ " (heure de Guyane)" for any zone but the home one, which goes without saying."""
    return "" if key == HOME_ZONE else f" ({zone_label(key)})"
