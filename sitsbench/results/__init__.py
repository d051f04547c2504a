"""Benchmark results: run records gathered into tables, standard plots and the book's leaderboard."""

from sitsbench.results.collect import Collection, collect, write_table
from sitsbench.results.leaderboard import leaderboard_page

__all__ = ["Collection", "collect", "leaderboard_page", "write_table"]
