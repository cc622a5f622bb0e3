"""`maillage demo` end to end: it must keep working, since it is one of the README's
two commands. Runs the real demo (its own Synapse, the bot, the scripted séance)."""

from __future__ import annotations

import pytest
from docx import Document

from bot.ops.demo import run_demo
from tests.icalcheck import parse_both

pytestmark = pytest.mark.e2e


async def test_demo_writes_minutes_ics_and_feed(tmp_path):
    out = tmp_path / "demo"
    assert await run_demo(out) == 0
    names = {path.name for path in out.iterdir()}
    assert {"compte-rendu-1-v1.md", "compte-rendu-1-v1.html", "compte-rendu-1-v1.docx",
            "agenda-flux.ics", "transcript.md"} <= names
    minutes = (out / "compte-rendu-1-v1.md").read_text(encoding="utf-8")
    for line in ("# Réseau régional des CPO — Compte rendu n°1",
                 "- Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)",
                 "- M. Chapron Guillaume (Chef de projet cité éducative ; CE Douai) — motif\u00a0: en congés",
                 "### Actualités de la cité éducative de Soissons",
                 "- Mme Jehl Sophie\u00a0: Quels leviers pour mobiliser les parents ?",
                 "### L'école des sports", "/calendar/"):
        assert line in minutes
    transcript = (out / "transcript.md").read_text(encoding="utf-8")
    assert "Salon chiffré de bout en bout" in transcript       # the room Element would create
    assert "compte-rendu-1-v1.docx *(pièce jointe chiffrée)*" in transcript
    assert "parnets" not in minutes and "(hors cr)" not in minutes and "je reviens" not in minutes
    headings = [p.text for p in Document(str(out / "compte-rendu-1-v1.docx")).paragraphs
                if p.style.name.startswith("Heading")]
    assert "Météo du jour" in headings and "Actions à suivre" in headings
    invites = sorted(n for n in names if n.endswith(".ics") and n != "agenda-flux.ics")
    assert len(invites) == 2
    for name in invites + ["agenda-flux.ics"]:
        parse_both((out / name).read_bytes())
