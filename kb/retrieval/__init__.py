"""Cards and vectors → ranked candidates.

scoring.py      the ranking (situations/text fusion + keyword bonus) and the confidence rule; pure
calibration.py  where low confidence starts, calibrated at every build
store.py        the index on disk: manifest, verify, load, atomic switch, prune
build.py        guides → vectors → a new build folder, incrementally, under a lock
"""
