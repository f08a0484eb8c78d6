"""Repository-level pytest configuration.

The DR fixtures, options and markers come from the installed plugin (entry point
``pytest11: kosmos_dr``); nothing needs to be imported here. The test suite of the plugin
itself (``tests/``) enables pytester in its own conftest.
"""
