"""Free ports and waiting for servers on 127.0.0.1 (shared with the demo runner)."""

from demo.net import free_port, wait_for_port

__all__ = ["free_port", "wait_for_port"]
