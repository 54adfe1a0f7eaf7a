"""``python -m worker``: the ``scanbox`` command line."""

from worker.cli import main

main()
