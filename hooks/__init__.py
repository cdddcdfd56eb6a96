"""The hook entry scripts (``qemu``, ``network``); installed as package data so
``vnet hooks install`` finds them after a plain ``pip install .``."""
