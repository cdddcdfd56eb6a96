"""Helpers the test tiers share (importable as ``support.<module>``: pytest puts ``tests/``
on the path, see ``pythonpath`` in pyproject.toml).

- :mod:`.prereq` — the repository's paths, the libvirt corpus, and :func:`~.prereq.require`
  (a missing prerequisite skips, or fails under ``VNET_REQUIRE_ALL=1``);
- :mod:`.netns` — throwaway network namespaces and ``ip -j`` as the independent oracle;
- :mod:`.hostctl` — the driver run *inside* a namespace (fault and kill injection);
- :mod:`.kernel` — :class:`~.kernel.Host`, one namespace playing a hypervisor;
- :mod:`.lab` — helpers for tests on a ``vnet lab`` (the fixtures are in ``e2e/conftest.py``).
"""
