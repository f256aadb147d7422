"""The XML namespaces of the ONVIF replies we read, in one place.

From the ONVIF schema and WSDLs (onvif/specs: ``ver10/schema/onvif.xsd`` is ``tt``,
each service WSDL its own ``tds``/``trt``/``trc``/``tse`` target namespace) and the
WS-BaseNotification and SOAP standards.  Readers build qualified names from these
(``f"{{{TT}}}Name"``); nothing else in the package spells a namespace URI.
"""

from __future__ import annotations

SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
#: the ONVIF schema (onvif.xsd): every ``tt:`` type
TT = "http://www.onvif.org/ver10/schema"
#: the service WSDLs' target namespaces: each operation's request and response elements
TDS = "http://www.onvif.org/ver10/device/wsdl"
TRT = "http://www.onvif.org/ver10/media/wsdl"
TRC = "http://www.onvif.org/ver10/recording/wsdl"
TSE = "http://www.onvif.org/ver10/search/wsdl"
#: WS-BaseNotification: ``wsnt:Topic`` / ``wsnt:Message`` in event search results
WSNT = "http://docs.oasis-open.org/wsn/b-2"
#: the ONVIF topic namespace and the topic expression dialect event filters use
TOPICS = "http://www.onvif.org/ver10/topics"
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

#: GetCapabilities' section names -> the namespace of the service they stand for
CAPABILITY_NAMESPACES = {
    "Device": TDS,
    "Media": TRT,
    "Events": "http://www.onvif.org/ver10/events/wsdl",
    "Imaging": "http://www.onvif.org/ver20/imaging/wsdl",
    "PTZ": "http://www.onvif.org/ver20/ptz/wsdl",
    "Analytics": "http://www.onvif.org/ver20/analytics/wsdl",
    "Recording": TRC,
    "Search": TSE,
    "Replay": "http://www.onvif.org/ver10/replay/wsdl",
    "Receiver": "http://www.onvif.org/ver10/receiver/wsdl",
    "DeviceIO": "http://www.onvif.org/ver10/deviceIO/wsdl",
}
