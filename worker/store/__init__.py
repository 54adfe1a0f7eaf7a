"""The database: where jobs, results, schedules and run records live (the source of truth).

- :mod:`worker.store.database`: engines for SQLite, libSQL/Turso and PostgreSQL; read and write
  transactions, retried while the database is locked; :mod:`worker.store.libsql`: the libSQL
  dialect behind it
- :mod:`worker.store.models`: every table, with its typed handle (the job and audit tables are
  ``statemachine.tables``); the results, peers, validators, run records and trees of child
  scans defined there, the schedules' tables in :mod:`worker.store.schedule_tables`, the
  producers' (API keys, requests, webhook outbox) in :mod:`worker.store.producer_tables`
- :mod:`worker.store.jobs`: the due job a worker claims or puts back to sleep;
  :mod:`worker.store.results`: result rows; :mod:`worker.store.validators`: a URL's ETag and
  Last-Modified; :mod:`worker.store.queries`: reads for people and programs
- :mod:`worker.store.migrations`: the schema's Alembic revisions, the revision check every
  process makes on first use, ``scanbox db upgrade``
"""
