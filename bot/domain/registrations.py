"""Answers to a rencontre: who registers, who is excused (with a reason), and withdrawing —
by command or by a ✅/❌ reaction on its announcement; one row per person, updated by
later answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from bot.domain.rencontres import field_text
from bot.storage.models import Registration, Rencontre, RsvpStatus


def answer(session: Session, rencontre: Rencontre, user_id: str, status: str, reason: str,
           now: datetime, reaction_event_id: str | None = None) -> Registration:
    """Register or excuse ``user_id``: one row per person, updated by later answers."""
    query = select(Registration).where(Registration.rencontre_id == rencontre.id,
                                       Registration.user_id == user_id)
    registration = session.exec(query).first() or Registration(
        rencontre_id=rencontre.id, user_id=user_id, status=status, updated_at=now)
    registration.status, registration.reason = status, field_text("motif", reason)
    registration.reaction_event_id = reaction_event_id
    registration.updated_at = now
    session.add(registration)
    session.flush()
    return registration


def withdraw(session: Session, rencontre: Rencontre, user_id: str) -> bool:
    query = select(Registration).where(Registration.rencontre_id == rencontre.id,
                                       Registration.user_id == user_id)
    registration = session.exec(query).first()
    if registration is not None:
        session.delete(registration)
        session.flush()
    return registration is not None


def withdraw_reaction(session: Session, reaction_event_id: str) -> Registration | None:
    """Removing the reaction that gave an answer withdraws that answer."""
    query = select(Registration).where(Registration.reaction_event_id == reaction_event_id)
    registration = session.exec(query).first()
    if registration is not None:
        session.delete(registration)
        session.flush()
    return registration


def answers(session: Session, rencontre: Rencontre) -> tuple[list[Registration], list[Registration]]:
    """(registered, excused), oldest answer first."""
    query = (select(Registration).where(Registration.rencontre_id == rencontre.id)
             .order_by(col(Registration.updated_at), col(Registration.id)))
    rows = list(session.exec(query))
    return ([r for r in rows if r.status == RsvpStatus.REGISTERED],
            [r for r in rows if r.status == RsvpStatus.EXCUSED])


def registered_counts(session: Session, rencontre_ids: list[int]) -> dict[int, int]:
    query = (select(Registration.rencontre_id, func.count())
             .where(col(Registration.rencontre_id).in_(rencontre_ids),
                    Registration.status == RsvpStatus.REGISTERED)
             .group_by(Registration.rencontre_id))
    return dict(session.exec(query).all())
