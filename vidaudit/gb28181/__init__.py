"""GB/T 28181 (SIP + MANSCDP): vidaudit standing where an upper platform stands.

Protocol only (no storage, no rules): ``sip`` messages, ``digest`` checks, ``transport``
(UDP and TCP on one port, bounded), ``manscdp`` bodies, and ``platform`` -- registrar,
keepalive, queries and playback signalling.  Media (RTP carrying MPEG-PS) is received and
decoded in ``vidaudit.media``.

Why a SIP layer of our own (evaluated 2026-12):

* ``aiosipua`` 0.7 (PyPI, MIT, "Development Status :: 3 - Alpha", one maintainer) parses
  and serialises messages well and has UDP/TCP transports, but it is a user agent for
  voice calls: no registrar and no server-side digest check, no non-INVITE client
  transactions with retransmission and a deadline (what a Query MESSAGE needs), TCP
  framing that decodes headers as UTF-8 only (GB/T 28181 devices send GB2312), and its
  dispatch swallows every exception of a handler with a bare ``except Exception``.  We
  would have used its parser and written everything GB/T 28181 needs around it anyway.
* ``aiosip`` 0.2 (last release 2017) is unmaintained; ``pyVoIP`` is a threaded phone
  client; ``pjsua2`` wraps PJSIP's C++ user agent (media engine, threads, no wheels for
  every platform): none is a registrar.

What we need is small and fixed: REGISTER with digest, MESSAGE both ways, INVITE/ACK/BYE
for one kind of call.  ``sip.py`` is a strict parser of about 300 lines; the whole layer
is proven against SIPp (a third-party SIP implementation) in ``tests/gb28181``.
"""
