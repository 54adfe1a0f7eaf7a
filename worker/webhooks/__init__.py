"""Completion webhooks: a job's terminal state POSTed to the callback its producer named.

The outbox is written with the terminal move itself (:mod:`worker.store.outbox`); this part
sends it:

- :mod:`worker.webhooks.signing`: the Standard Webhooks headers and the ``whsec_`` secret
- :mod:`worker.webhooks.sender`: one POST through an egress proxy session, the answer bounded
- :mod:`worker.webhooks.retry`: delivered, tried again (backoff, ``Retry-After``) or given up
- :mod:`worker.webhooks.deliverer`: the rounds every worker process runs beside its scans
"""
