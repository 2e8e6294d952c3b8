"""Lookups per second on the 9,303-grid demo city, in one process.

    .venv/bin/python benchmarks/grid_lookup.py [--points 100000]

Prints two figures: one point at a time (`GridIndex.locate`, what GET /api/v1/lookup does per request) and
vectorised (`GridIndex.locate_many`: one STRtree query for all points). Points are uniform over the city's
bounding box plus a 3 % margin, so some fall outside every grid and take the nearest-town path.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.grid.domain.lookup import GridIndex  # noqa: E402
from shared.democity import BBOX, grids  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    all_grids = grids()
    started = time.perf_counter()
    index = GridIndex.build(all_grids)
    built = time.perf_counter() - started
    rng = random.Random(42)
    x0, y0, x1, y1 = BBOX
    mx, my = (x1 - x0) * 0.03, (y1 - y0) * 0.03
    lons = [rng.uniform(x0 - mx, x1 + mx) for _ in range(args.points)]
    lats = [rng.uniform(y0 - my, y1 + my) for _ in range(args.points)]

    started = time.perf_counter()
    single = [index.locate(x, y) for x, y in zip(lons, lats, strict=True)]
    one_at_a_time = args.points / (time.perf_counter() - started)
    started = time.perf_counter()
    many = index.locate_many(lons, lats)
    vectorised = args.points / (time.perf_counter() - started)
    assert many == single, "vectorised and single lookups disagree"
    outside = sum(1 for r in single if r.flagged)

    print(f"grids: {len(all_grids)} (index built in {built:.2f} s); points: {args.points} "
          f"({outside} outside every grid)")
    print(f"one point at a time: {one_at_a_time:,.0f} lookups/s")
    print(f"vectorised:          {vectorised:,.0f} lookups/s")


if __name__ == "__main__":
    main()
