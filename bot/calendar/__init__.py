"""Rencontres in calendars: the ``.ics`` writer, invitations (room, DM, e-mail) and the
room's feed, and the mailer that sends e-mail invitations.
"""
