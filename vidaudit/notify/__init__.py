"""Protocol: sending a message to people over WeCom (企业微信) and DingTalk (钉钉) group
robots, generic JSON webhooks and e-mail (SMTP).  Knows no storage, no web and no rules:
the alerts domain (``vidaudit.alerts``) decides what to send to whom and records it;
``send.send`` delivers one message and raises ``SendError`` with a kind and whether a
retry can help.  ``config`` is the schema of the settings' ``[notify]`` section.
"""
