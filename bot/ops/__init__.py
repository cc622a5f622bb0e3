"""Operations: the ``maillage`` command line, the embedded demo and the throwaway Synapse
it (and the tests) run.
"""
