"""The kernel's own algorithms, one module per mechanism, each rule citing its source.

These modules are pure functions over ints (bytes and page frames). They model what the
first, crash and recovery kernels will do with a given command line; the solver chooses
the parameters, and the checker (``layoutc.solve.check``) re-derives the results from the
emitted command lines with the same models.

Sources are cited as ``LNX:<path> <function>`` (torvalds/linux) and ``kernel.md §N``
(shared/reference/kernel.md).
"""
