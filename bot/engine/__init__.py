"""The engine: one event in, database changes and outgoing messages out (core), the
command registry, the context handed to commands, event records, room state, outbox.
"""
