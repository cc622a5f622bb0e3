"""Chat commands: one module per group, each declaring its commands with the registry's
decorators (``@command``, ``@subcommand``, ``@listen``, ``@receives``).

Importing this package registers nothing: the application's wiring (:mod:`bot.app.wiring`)
discovers every module here and builds the registry from them; a module that declares no
command stops the start-up. Adding a command is adding a module (and its test).
"""
