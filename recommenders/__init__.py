"""Data in, recommendations out. Imports nothing from `bot`, so it can be tested without I/O."""
