"""The top floor: the ``callwatch`` command line, the processes it starts and the wallboard page server.

It stands on the adapters (``streams``, ``producers``, ``alerts``) and the core (``callwatch``); nothing
below imports it. Each command parses its options, calls the module that does the work and prints.
"""
