"""The grid service's pure domain: grids, location lookup."""
