"""The catalogue of diagnostic codes of the review verbs (LC540-LC549): what ``diff`` cannot read.

Codes are stable: tools and tests match on them. docs/diagnostics.md is generated from this table.
"""

from __future__ import annotations

REVIEW_CODES: dict[str, str] = {
    "LC540": "a layout.json that the layout.json reader refuses (not a v1 layout, not JSON, unreadable)",
    "LC541": "git cannot read the revision of a diff side (unknown revision, path not in it, no repository)",
    "LC542": "two profiles or output folders of one diff side are the same board",
}

RULES: dict[str, str] = {
    "LC540": "diff reads compiled output through the one layout.json reader: the v1 schema and every "
             "derived value must hold (docs/layout-json.md)",
    "LC541": "--rev REV reads each file as 'git show REV:PATH' from the git repository that holds PATH",
    "LC542": "a fleet has one profile per board name (as 'compile' requires)",
}
