"""streamdeploy: describe a Python streaming service once, ship it anywhere."""

__version__ = "0.1.0"
