"""scanbox's fetcher: fetch one untrusted URL safely from inside a locked-down container.

Run as ``python3 -m fetcher URL [options]``; it prints exactly one JSON object on stdout (see
:mod:`fetcher.report`). Standard library only, so it starts fast on a bare Python image, and
this package imports nothing on its own so ``-m fetcher`` pays only for what it uses.

Modules, one concept each:

- :mod:`fetcher.options`: command-line settings; :mod:`fetcher.ports`: the port allow-list
- :mod:`fetcher.urls`: which URLs may be fetched; :mod:`fetcher.addresses`: which IPs, and
  the allow-list's networks; :mod:`fetcher.registry`: the IANA registries it reads
- :mod:`fetcher.resolution`: resolve once, check every address, pin them
- :mod:`fetcher.connection`: HTTP(S) connections pinned to checked addresses;
  :mod:`fetcher.request`: the request head, written without loading :mod:`http.client`;
  :mod:`fetcher.proxy`: connections through the egress proxy (``--proxy-socket``)
- :mod:`fetcher.fetch`: the redirect and retry loop; :mod:`fetcher.deadline`: the total
  deadline; :mod:`fetcher.retry`: when and how long to back off
- :mod:`fetcher.response`: the final response read, its body streamed through
  :mod:`fetcher.body` (capped, decoded); :mod:`fetcher.content`: response headers
- :mod:`fetcher.errors`: what can go wrong; :mod:`fetcher.failures`: which code a low-level
  failure becomes
- :mod:`fetcher.tls`, :mod:`fetcher.html`, :mod:`fetcher.page`, :mod:`fetcher.download`,
  :mod:`fetcher.observations`: what was found
- :mod:`fetcher.report` and :mod:`fetcher.bounds`: the JSON report;
  :mod:`fetcher.startup`: how long the process took to get going
- :mod:`fetcher.browser`: the browser mode's capture program, which alone needs Playwright
  and runs in its own image (``Dockerfile.browser``)

Value objects are ``typing.NamedTuple`` classes built with keyword arguments, not dataclasses:
importing dataclasses pulls in ``inspect`` and cost about a tenth of the fetcher's start-up.
For the same reason, what only a response needs (:mod:`http.client` and the ``email`` package
behind it, :mod:`ssl` for plain http, :mod:`json`, the HTML parser, the report) is imported
where it is first used, after the first request has been sent.
"""
