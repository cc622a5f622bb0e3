"""Storage: the SQLModel tables, the database (sessions, faults, migrations).
"""
