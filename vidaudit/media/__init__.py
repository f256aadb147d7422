"""Decoding recorded video: opening sources, exact frames at instants, vendor playback URLs.

* ``containers``    ``open_container``: PyAV open with fast probing and read timeouts.
* ``errors``        ``MediaError`` and its kinds; ``classify_av_error``.
* ``pulled``        ``PulledFrame``, instants (offsets or aware datetimes).
* ``file_frames``   ``frames_at``: seek + decode forward in MP4/MKV/TS exports.
* ``stream_frames`` ``frames_from_stream``: decode a playback URL from its start.
* ``vendor_urls``   Hikvision/Dahua playback URLs, ``redact``.
* ``jpeg``          ``encode_jpeg``, ``sha256_hex``.
"""
