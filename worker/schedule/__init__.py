"""Recurring scans: schedules as rows, their ticks, and the scheduler that fires them.

- :mod:`worker.schedule.cron`: cron expressions in UTC
- :mod:`worker.schedule.schedules`: adding, listing, enabling, disabling, removing schedules
- :mod:`worker.schedule.ticks`: firing one tick, once across every replica
- :mod:`worker.schedule.scheduler`: a replica's loop: refresh the plans, fire what is due
"""
