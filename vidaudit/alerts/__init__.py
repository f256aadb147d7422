"""Domain: alerts that reach people.  What is due (``due``: open offline and disk tickets,
escalations, waiting approvals, overdue rectifications, missed daily checks, the weekly
report), at most how often (``throttle``), to whom (``recipients``), in which words
(``compose``, from the zh/en catalogues), written to an outbox in the deciding
transaction (``outbox``) and sent with retries and back-off by a drainer that never
holds a collection up (``service``).  Delivery itself is ``vidaudit.notify``.
"""
