"""Pictures: the analysis frame, the seven picture checks (R4) and their thresholds.

* ``checks``          the checks' names and their precedence (no OpenCV: the rules and the
                      web import only this)
* ``analysis_frame``  every picture judged at one fixed size
* ``diagnostics``     ``diagnose``: one BGR frame -> a verdict per check (OpenCV, numpy)
* ``thresholds``      the checks' thresholds, one pydantic model
"""
