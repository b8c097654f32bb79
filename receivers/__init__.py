"""Receivers: where the hub's tickets go. Each kind is a package here implementing
``receivers.base.Receiver`` and registered in ``receivers.registry.KINDS``; nothing outside a
kind's package knows its field names. Adding a kind is its package and its line in the table.
This package imports nothing, so that a kind may be a Django app (``receivers.outbox``)."""
