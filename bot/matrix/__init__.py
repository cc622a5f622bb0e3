"""The Matrix adapter: the only code that speaks to the homeserver through matrix-nio
(client, credentials and sync token, cross-signing, the demo's scripted clients).
"""
