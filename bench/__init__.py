"""Benchmarks. Run each as a module from the repository root: ``python -m bench.NAME --quick``.

(As modules, not scripts: ``bench/queue.py`` would otherwise shadow the standard library's
``queue`` for every script in this folder.)
"""
