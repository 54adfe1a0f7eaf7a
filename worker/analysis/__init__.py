"""Judging what a fetcher saw: the report as accepted, the rules, and the policy file.

- :mod:`worker.analysis.report`: the fetcher's JSON report, validated field by field (the
  container's output is hostile until it passes)
- :mod:`worker.analysis.rules`: the verdict, score and reasons from the report's observations
- :mod:`worker.analysis.policy`: blocked and allowed domains and body hashes (``POLICY_FILE``)
"""
