"""``python -m atelier`` is the ``atelier`` command."""

from atelier.cli.main import main

main()
