"""Jinja templates of the pilot job script and the per-node setup script, shipped as package data."""
