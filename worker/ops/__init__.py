"""Keeping the deployment whole: what dead workers and a forgetful Redis leave behind.

- :mod:`worker.ops.reaper`: expired leases back to QUEUED, orphan containers removed
- :mod:`worker.ops.reconcile`: QUEUED jobs Redis lost, dispatched again
- :mod:`worker.ops.housekeeping`: both, every interval, by one worker of the deployment
- :mod:`worker.ops.maintenance`: retention, stray containers and database upkeep
"""
