"""The running application: the runtime (sync loop, outbox, services) and the one place
where it is wired together.
"""
