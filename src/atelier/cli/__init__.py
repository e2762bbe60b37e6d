"""The ``atelier`` command line. Modules import only click at the top so ``--help`` is instant."""
