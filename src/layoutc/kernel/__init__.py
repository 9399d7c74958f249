"""The kernel's own algorithms, one module per mechanism, each rule citing its source.

These modules are pure functions over ints (bytes and page frames). They model what the
first, crash and recovery kernels will do with a given command line; the solver chooses
the parameters, and the checker (``layoutc.solve.check``) re-derives the results from the
emitted command lines with the same models.

Sources are cited as ``LNX:<path> <function>``: a file of torvalds/linux, read at the two kernels
the lab boots (Debian's 6.1 and 7.2) unless the citation names another version; and as
``docs/reference/kernel-rules.md §N``, the project's own account of the rule with its sources.
"""
