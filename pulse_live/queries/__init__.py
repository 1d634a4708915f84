"""Read models for pages. Queries never write."""
