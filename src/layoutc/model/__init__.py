"""The typed contracts between stages: the profile, the layout and their units."""
