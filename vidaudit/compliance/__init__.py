"""Pure rules: what was observed, the policy and the clock in; violations out. No I/O,
no storage, no OpenCV (import-linter holds it to that)."""
