"""Evidence: content-addressed files (sha256), written atomically, read-only, never
overwritten (``store``)."""

from vidaudit.evidence.store import EvidenceStore

__all__ = ["EvidenceStore"]
