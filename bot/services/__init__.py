"""Background services next to the sync loop: reminders, action reminders, the séance
that closes itself, the HTTP calendar feed.
"""
