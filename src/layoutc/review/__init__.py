"""Authoring and review tools over layout.json: explain, diff, map, estimate, fleet summary."""
