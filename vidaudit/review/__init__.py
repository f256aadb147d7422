"""Review duties without HTTP: inspection items, reviews, findings and rectification,
weekly duties, who may see footage and approvals (D4), and the hash-chained review
register every pull, review and approval is written to."""
