"""scanbox's browser: capture what one untrusted page does, in Chromium, inside a container.

Run as ``python3 -m fetcher.browser --proxy-socket PATH URL`` (or ``--url-stdin``) in the
browser image (``Dockerfile.browser``). Unlike the rest of :mod:`fetcher` it needs Playwright,
which drives Debian's ``chromium-headless-shell``; the worker imports only
:mod:`fetcher.browser.stream` from it, which needs nothing but the standard library.

stdout carries one JSON report line and then the artifacts it declares (screenshot, DOM, HAR,
favicon), raw. The capture's only way out is the egress proxy's Unix socket.

Modules, one concept each:

- :mod:`fetcher.browser.options`: the command line and every bound, with its default
- :mod:`fetcher.browser.relay`: Chromium's proxy on loopback, relayed to the Unix socket
- :mod:`fetcher.browser.chromium`: the switches and context that close every other way out
- :mod:`fetcher.browser.capture`: navigate, watch the capture window, collect;
  :mod:`fetcher.browser.collect`: screenshot, DOM, text, favicon, cookies, TLS
- what is recorded while the page runs: :mod:`fetcher.browser.requestlog` (requests, sizes,
  hashes), :mod:`fetcher.browser.devtools` (initiators, why navigations were requested),
  :mod:`fetcher.browser.frames`, :mod:`fetcher.browser.pageevents` (console, errors, dialogs),
  :mod:`fetcher.browser.downloads` (hashed, never opened)
- :mod:`fetcher.browser.redirects`: the main frame's redirect chain and each hop's kind
- :mod:`fetcher.browser.errors`: Chromium's net errors as the fetcher's error codes
- :mod:`fetcher.browser.report`, :mod:`fetcher.browser.har`, :mod:`fetcher.browser.png`,
  :mod:`fetcher.browser.assemble`: the report, the HAR and the artifacts;
  :mod:`fetcher.browser.stream`: the output format, written and read back with its checks
- :mod:`fetcher.browser.watchdog`: the process ends soon after its deadline, whatever hangs
- :mod:`fetcher.browser.versions`: Playwright's Chromium and the installed one agree
"""
