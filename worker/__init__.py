"""scanbox's worker side: submit, claim, run the fetcher container, judge, record."""
