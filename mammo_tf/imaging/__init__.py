"""Numpy image operations shared by every method (breast segmentation, window grids)."""
