"""layoutc: a declarative compiler for Linux crash-dump memory layouts."""

__version__ = "0.1.0"
