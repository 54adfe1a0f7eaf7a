"""``scanbox api``: the HTTP API and the web pages, for programs and people away from the
worker host. It reads and writes the database and puts job ids on Redis; it never holds the
Docker socket.

- :mod:`worker.api.server`: ``serve``, uvicorn after the schema check;
  :mod:`worker.api.wiring`: the parts built from the settings; :mod:`worker.api.parts`: them
- :mod:`worker.api.app`: the application, and where exceptions become problem documents
  (:mod:`worker.api.problems`, RFC 9457)
- :mod:`worker.api.scans`: ``/v1/scans`` (submit, search, a scan, its audit trail and
  artifacts); :mod:`worker.api.system`: ``/healthz``, ``/readyz``, ``/metrics``, ``/v1/stats``
- :mod:`worker.api.auth`: API keys, scopes and the per-key rate limit
  (:mod:`worker.api.keys`, :mod:`worker.api.ratelimit`); :mod:`worker.api.guard`: the headers
  every answer gets, the bound on bodies
- :mod:`worker.api.submitting`, :mod:`worker.api.filters`, :mod:`worker.api.cursors`: a
  submission, a search's parameters, its signed cursors; :mod:`worker.api.artifacts`: a scan's
  downloads
- :mod:`worker.api.pages`, ``templates/``, ``static/``: the web pages;
  :mod:`worker.api.forms`: their CSRF tokens
- :mod:`worker.api.openapi`: the committed OpenAPI document (``docs/openapi.json``)

Errors raised here are ``worker.errors.ScanboxError``; ``worker.api.problems.Problem`` (one of
them) is an answer already decided: a status, a problem type and a detail.
"""
