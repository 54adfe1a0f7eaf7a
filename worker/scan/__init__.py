"""One attempt at a scan, from the claim to its terminal state: the body of the RQ task.

- :mod:`worker.scan.scanner`: the attempt, start to end, and the fetcher's arguments
- :mod:`worker.scan.gate`: the per-host rate limit asked before a claim
- :mod:`worker.scan.claim`: QUEUED → FETCHING under the optimistic lock
- :mod:`worker.scan.lease`: renewing the claim while the container runs
- :mod:`worker.scan.record`: FETCHING → ANALYZING → COMPLETED, with the result
- :mod:`worker.scan.outcome`: the one place a failed attempt is sorted (retry, discard, fail,
  time out); :mod:`worker.scan.backoff`: the retry delays
- :mod:`worker.scan.conditional`: re-scans that ask whether the content changed
- :mod:`worker.scan.shutdown`: a worker's graceful stop
"""
