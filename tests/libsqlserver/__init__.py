"""A small libSQL server for tests: Hrana over WebSocket on top of an SQLite file.

No libSQL server (``sqld``) can be installed on the machines scanbox is tested on, so the
``libsql://`` path is tested against this one, written from the Hrana specifications
(versions 1 to 3, JSON encoding). What it implements:

- WebSocket subprotocols ``hrana1``, ``hrana2`` and ``hrana3`` (JSON; not ``hrana3-protobuf``);
- ``hello`` (with ``--auth-token``, the JWT must equal that token; it is not verified as a JWT),
  ``open_stream``, ``close_stream``, ``execute``, ``batch`` (every condition type),
  ``sequence``, ``store_sql``, ``close_sql``, ``get_autocommit``;
- one SQLite connection per stream, in autocommit mode unless the client's own SQL opens a
  transaction, with its own thread so that a stream waiting for a lock blocks no other stream;
  a stream left by a closed WebSocket is rolled back and closed.

Not implemented: Hrana over HTTP (``/v2/pipeline``, batons), cursors, ``describe`` and
protobuf. ``libsql-client``'s DB-API module, the one scanbox uses, needs none of them.

It is a test tool: it is not part of the scanbox packages, and it is not a libSQL server
for anything but tests. Run it with ``python -m tests.libsqlserver --dir DIR --port N``: a
WebSocket on ``/NAME`` serves ``DIR/NAME.db`` (``/`` serves ``DIR/main.db``), so each test can
have a database of its own on one server.
"""
