"""Maillage, the bot. Its packages are its layers, highest first: ``ops`` (command line,
demo, dev server) → ``app`` (runtime and wiring) → ``commands/`` (top-level package) →
``services`` → ``minutes`` and ``calendar`` → ``domain`` → ``engine`` → ``storage`` →
``support``; ``matrix`` is the Matrix adapter, used by ``app`` and ``ops`` only.
``tests/test_layers.py`` holds the rule.
"""
