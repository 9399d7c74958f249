"""The ``layoutc`` command: the verb registry, the compile driver and printing."""
