"""``layoutc status``: the device's crash-dump state against its installed layout (docs/status.md).

``facts.read_facts`` reads /proc, /sys, /dev and /var/lib/layoutc under a root; ``expected`` reads the
installed layout.json with ``json`` alone; ``assess.assess`` compares them (pure, never raises) into a
``checks.Status``; ``report`` prints it. Standard library only, importing nothing of the compiler but the
exit codes (``layoutc.dump.exit_codes``): it ships to devices inside the device zipapp beside the dumper.
"""
