"""Fetcher containers through the Docker SDK: how they are made, run, reused and found again.

- :mod:`worker.containers.spec`: the container spec, its limits, labels and names
- :mod:`worker.containers.runner`: one container per attempt (``DockerRunner``) and the
  ``Runner`` interface; :mod:`worker.containers.pooled`: attempts on standby containers
- :mod:`worker.containers.standby`: containers made ahead; :mod:`worker.containers.attach`:
  reading their output from the attach socket
- :mod:`worker.containers.ownership`: which attempt a container belongs to (for the reaper)
- :mod:`worker.containers.engine`: waiting out an engine that went away
- :mod:`worker.containers.docker_errors`: the one translation of the SDK's errors into
  scanbox's; :mod:`worker.containers.images`: building the fetcher image
"""
