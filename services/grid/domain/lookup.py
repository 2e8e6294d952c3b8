"""Grid's lookup is the shared index (shared/gridindex.py), which intake's projection of the registry uses too."""

from shared.gridindex import METRES_PER_DEGREE, GridIndex, IndexedGrid, Located, polygon_from_coordinates

__all__ = ["METRES_PER_DEGREE", "GridIndex", "IndexedGrid", "Located", "polygon_from_coordinates"]
