"""Drivers: one module per network kind, found by :mod:`.registry`.

A driver decides how its kind maps onto libvirt (the designer): which libvirt networks,
which bridge names and MACs, which domain interface type, which host objects.  It
declares the topology keys its kind accepts and validates its own semantics.  Drivers build
:mod:`libvirt_vnet.model` values; they never format XML and never touch the host.
"""
