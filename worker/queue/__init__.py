"""Redis's part: waking workers, putting jobs back to sleep, and the per-host rate limit.

- :mod:`worker.queue.dispatch`: ``run_scan(job_id)`` on the RQ queues, one RQ job per dispatch
- :mod:`worker.queue.deferral`: a delayed dispatch that leaves the job's row alone
- :mod:`worker.queue.ratelimit`: a token bucket per target host, shared by every replica
- :mod:`worker.queue.redis_url`: what a Redis URL may look like

Nothing here reads or writes the database: losing Redis delays jobs but loses none.
"""
