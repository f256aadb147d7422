"""Review duties without HTTP: the review register (D4), later findings and duties."""
