"""Reusable UI pieces. Components read through queries and write through services only."""
