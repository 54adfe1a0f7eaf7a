"""What scanbox tells about its work: run records, Prometheus metrics, per-attempt counts.

- :mod:`worker.telemetry.runs`: one ``runs`` row per worker process, scheduler or maintenance
- :mod:`worker.telemetry.metrics`: counters, histograms and gauges read at scrape time
- :mod:`worker.telemetry.instrument`: each attempt counted, timed and logged with its job
- :mod:`worker.telemetry.stats`: the snapshot ``scanbox stats`` shows
"""
