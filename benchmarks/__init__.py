"""`make bench`: what kb costs on this machine (search latency, concurrency, load behind nginx).

Development code: it needs a checkout (the tests' local deployment, a browser), so it is not in
the `kb` package. Run from the project's root: `python -m benchmarks.bench`, `python -m benchmarks.load`.
"""
