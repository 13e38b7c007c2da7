"""What the tests and the benchmarks share: a browser, a local deployment behind nginx, free ports."""
