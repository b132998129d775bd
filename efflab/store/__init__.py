"""The results store: one SQLite file (WAL), one row per measured or failed point."""

from efflab.store.results import load_results
from efflab.store.sqlite import SCHEMA_VERSION, Store, open_store

__all__ = ["SCHEMA_VERSION", "Store", "load_results", "open_store"]
