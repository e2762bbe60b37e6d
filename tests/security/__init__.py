"""Attacks a hostile colleague would try, one module per class of hole, all expected refused."""
