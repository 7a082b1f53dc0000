"""The package version, in one place (read by aekit/__init__.py and written into every model folder)."""
__version__ = "0.1.0"
