# scripts (see Makefile.am)
# demo and the compare benchmark (helper cli)
EXTRA_DIST += scripts/run-demo scripts/bench/compare scripts/bench/compare_numpy.py
EXTRA_DIST += scripts/bench/tui
