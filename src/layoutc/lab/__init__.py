"""The lab: boot compiled layouts in real kernels under QEMU and report predicted vs observed.

Public entry points: ``run_lab`` (library) and ``layoutc.lab.verb.main_lab`` (the ``layoutc lab`` verb).
"""

from layoutc.lab.errors import LabError
from layoutc.lab.report import Report
from layoutc.lab.run import LabOptions, run_lab

__all__ = ["LabError", "LabOptions", "Report", "run_lab"]
