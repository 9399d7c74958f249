"""``layoutc install``: where each compiled artifact of a board goes in a root, as a typed plan.

``plan.install_plan`` maps the compiled artifacts to their installed paths and modes and adds the
units' enablement (``units``); ``compiled.check_compiled`` checks an already compiled board before
it is laid; ``install_codes`` holds the LC5xx codes. Pure: the writer (``writer.install``) lays the plan.
"""
