"""Wiring: building scanbox's parts from the settings, and the processes that run them.

- :mod:`worker.app.clients`: Redis, the Docker engine, the RQ dispatcher, heartbeats;
  :mod:`worker.app.database`: the database the settings name
- :mod:`worker.app.containers`: container specs, runners, the browser mode
- :mod:`worker.app.services`: the scanner, the reaper, a worker process's telemetry
- :mod:`worker.app.workers`: ``scanbox worker``'s processes, each an RQ worker
  (:mod:`worker.app.rq_worker`)
- :mod:`worker.app.drain`: ``--max-jobs``, a budget shared by those processes
- :mod:`worker.app.sandbox`: the settings that weaken the fetchers' sandbox, said at start
- :mod:`worker.app.scheduler_process`: ``scanbox scheduler``'s process and its maintenance
"""
