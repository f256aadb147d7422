"""Decoding recorded video: opening sources, exact frames at instants, vendor playback URLs.

* ``containers``    ``open_container``: PyAV open with fast probing and read timeouts.
* ``errors``        ``MediaError`` and its kinds; ``classify_av_error``.
* ``pulled``        ``PulledFrame``, instants (offsets or aware datetimes).
* ``file_frames``   ``frames_at``: seek + decode forward in MP4/MKV/TS exports.
* ``stream_frames`` ``frames_from_stream``: decode a playback URL from its start.
* ``vendor_urls``   Hikvision/Dahua playback URLs, ``redact``.
* ``jpeg``          ``encode_jpeg``, ``sha256_hex``.
* ``replay``        ``pull_replay_frames``: ONVIF replay (RTSP ``Range: clock=``) pulls,
                    one RTSP session per stretch of close instants.
* ``ranges``        RTSP ``Range`` (clock / npt) and ``RTP-Info``.
* ``stretches``     which instants share one PLAY or playback URL.
* ``nearest``       the decoded frame nearest each requested instant.
* ``unit_decoder``  PyAV decoding of access units, frames with their instants.
* ``udp``           RTP/RTCP over a UDP port pair.
* ``rtsp_client``   the small RTSP client replay uses (why not aiortsp: see its docstring).
* ``rtp``           RTP packets, the ONVIF 0xABAC extension, RTCP BYE.
* ``depacketize``   H.264 (RFC 6184) / H.265 (RFC 7798) payloads into access units.
"""
