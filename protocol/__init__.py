"""The contract between edge and platform: topics, envelope and message bodies (no I/O)."""

from protocol.envelope import MAX_PAYLOAD_BYTES, REGISTRY, Envelope, Message, build, decode, encode, topic_for
from protocol.errors import ProtocolError, TopicError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "REGISTRY",
    "Envelope",
    "Message",
    "ProtocolError",
    "TopicError",
    "build",
    "decode",
    "encode",
    "topic_for",
]
