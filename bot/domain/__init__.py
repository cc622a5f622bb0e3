"""The network's domain, free of Matrix: rencontres and their dates, séances and what is
captured in them, reminders, actions, polls, people, cités and room settings.
"""
