"""``scanbox bench``: what a scan costs next to the bare container it runs in.

One run on one machine, against a page served on loopback: the bare Docker SDK lifecycle of
the fetcher container (the limit), the same fetch as scans run by real worker processes, the
submit rate, and the footprint of workers and containers. Each part has its own module.
"""
