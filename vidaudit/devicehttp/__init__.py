"""What the vendor-API readers (``isapi/``, ``dahua/``) share: one HTTP client with
digest authentication, bounded reads and error kinds; strict XML; POSIX time zones.

A protocol-level toolkit: no storage, no rules.  ``onvif/`` uses its strict parser and
POSIX TZ parsing too.
"""
