"""Benchmark the explicit-state checker on a preset (default: pr).

    python bench/bench_check.py [--preset pr] [--repeat 3]

Prints distinct states/s and states explored; same as `parsync bench`.
"""

import sys

from parsync.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
