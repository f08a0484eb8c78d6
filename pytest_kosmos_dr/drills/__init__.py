"""Drills: actions that create (and always remove) resources, refused unless the run allows them."""
