"""RTSP replay server of the simulated fleet: every channel's recordings, synthesized on
demand (``video.py``), served over RTSP/RTP with ONVIF replay extensions (``server.py``).

Started by ``vidaudit.sim.fleet.start_fleet`` on each device's reserved RTSP socket (not for
offline or Profile-S-only devices); ``Fleet.replay_servers`` holds them.
"""

from vidaudit.sim.rtsp.server import ReplayServer
from vidaudit.sim.rtsp.timecode import TIMECODE_VERSION
from vidaudit.sim.rtsp.video import FPS, FRAME_MS, GOP_MS, HEIGHT, WIDTH

__all__ = ["FPS", "FRAME_MS", "GOP_MS", "HEIGHT", "TIMECODE_VERSION", "WIDTH", "ReplayServer"]
