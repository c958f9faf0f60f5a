"""Run a gate agent: python -m edge --config configs/edge/<gate>.yaml"""

from __future__ import annotations

import argparse
import logging
import sys

from edge.app import EdgeAgent
from edge.config import ConfigError, load_config
from edge.outbox import OutboxError
from protocol.stop_signal import StopSignal

log = logging.getLogger("edge")


def main(argv: list[str] | None = None) -> int:
    """Load the config, start the agent and run until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m edge", description="Smart-community gate agent")
    parser.add_argument("--config", required=True, help="YAML configuration file")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        agent = EdgeAgent(load_config(args.config))
    except (ConfigError, OutboxError) as err:
        print(f"edge: {err}", file=sys.stderr)
        return 2
    stop_signal = StopSignal()
    agent.start()
    stop_signal.wait()
    log.info("stopping")
    agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
