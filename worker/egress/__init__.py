"""scanbox's egress proxy: the only way out for fetcher and browser containers.

Containers run with ``network_mode=none``; each gets one session of this proxy, reached
through a Unix socket in a directory of its own that is mounted into the container. The
proxy resolves each host once, refuses a request if any address is refused (the fetcher's
classifier and allow-list, the same port policy), connects to the address it checked, and
records every connection, so the peer of every hop is known from outside the sandbox.

This package imports only :mod:`fetcher` and scanbox's base modules (``worker.errors``,
``worker.logs``, ``worker.clock``). Modules, one concept each:

- :mod:`worker.egress.config`: the tunables, one frozen object
- :mod:`worker.egress.proxy`: sessions and the proxy's life; :mod:`worker.egress.run`:
  running it until SIGTERM; :mod:`worker.egress.session`: one session's state
- :mod:`worker.egress.connections`: one client connection, request to record;
  :mod:`worker.egress.request_head`: what a client asks for;
  :mod:`worker.egress.lookup`: resolve once, decide by every address;
  :mod:`worker.egress.answers`: what a client is told;
  :mod:`worker.egress.relay`: bytes both ways within the session's budget;
  :mod:`worker.egress.streams`: connecting to checked addresses, closing cleanly
- :mod:`worker.egress.records`: what is recorded; :mod:`worker.egress.protocol`,
  :mod:`worker.egress.control` and :mod:`worker.egress.client`: the control socket
- :mod:`worker.egress.errors`: what can go wrong
"""
