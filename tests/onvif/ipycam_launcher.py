"""Run ipycam's ONVIF HTTP handler bound to 127.0.0.1, without streaming or discovery.

Executed by the ipycam test with the interpreter of ipycam's own virtualenv.
``IPCamera.start()`` binds every interface (``''``), joins the WS-Discovery multicast
group on UDP 3702 and starts an RTSP/FFmpeg pipeline; none of that is needed to answer
SOAP, so we build the camera object and serve its HTTP handler on loopback ourselves,
using ipycam's own classes unchanged.

Prints ``PORT <n>`` once listening; credentials come from the environment.
"""

import os
import sys

from ipycam.camera import IPCamera, ReusableThreadingTCPServer
from ipycam.config import CameraConfig
from ipycam.http import IPCameraHTTPHandler


def main() -> int:
    config = CameraConfig(
        local_ip="127.0.0.1",
        username=os.environ.get("IPYCAM_USERNAME", ""),
        password=os.environ.get("IPYCAM_PASSWORD", ""),
    )
    camera = IPCamera(config)
    IPCameraHTTPHandler.camera = camera
    server = ReusableThreadingTCPServer(("127.0.0.1", 0), IPCameraHTTPHandler)
    # XAddrs and URIs ipycam advertises are built from onvif_port.
    config.onvif_port = server.server_address[1]
    sys.stdout.write(f"PORT {config.onvif_port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
