"""The demo's two gates: the real edge agent (edge.app.EdgeAgent) on the demo configs, fed by scene videos."""

from __future__ import annotations

import base64
import random
import secrets
import threading
from pathlib import Path
from uuid import uuid4

import yaml

from edge.app import EdgeAgent
from edge.config import EdgeConfig, parse_config
from protocol.commands import ConfigUpdate

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "face": REPO_ROOT / "configs/edge/demo-face-gate.yaml",
    "vehicle": REPO_ROOT / "configs/edge/demo-vehicle-gate.yaml",
}


def gate_config(kind: str, var: Path, broker_port: int, video: Path, pass_keys: dict[str, str]) -> EdgeConfig:
    """A demo edge config with this run's broker port, data folder, scene video and pass keys filled in."""
    path = CONFIGS[kind]
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["broker"]["port"] = broker_port
    document.setdefault("access", {}).setdefault("passes", {})["public_keys"] = pass_keys
    document["data_dir"] = str(var / "edge" / document["device"])
    for camera in document.get("cameras", []):
        camera["source"] = str(video)
    if document.get("faces", {}).get("key_file"):  # the agent reads key_file as given: anchor it in data_dir
        document["faces"]["key_file"] = str(Path(document["data_dir"]) / document["faces"]["key_file"])
    config = parse_config(document, str(path))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if config.faces is not None and config.faces.key_file is not None:
        key_file = config.faces.key_file
        if not key_file.exists():
            key_file.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
            key_file.chmod(0o600)
    return config


def start_agents(configs: list[EdgeConfig]) -> list[EdgeAgent]:
    """Build and start one agent per config, its cameras held back until `go_live` (lists first, then traffic)."""
    agents = []
    try:
        for config in configs:
            agents.append(EdgeAgent(config.model_copy(update={"cameras": []})).start())
    except Exception:
        stop_agents(agents)
        raise
    return agents


def go_live(agents: list[EdgeAgent], configs: list[EdgeConfig]) -> None:
    """Switch the cameras on through the agents' own config-update path (validated, persisted), in parallel."""
    errors: list[Exception] = []

    def update(agent: EdgeAgent, config: EdgeConfig) -> None:
        cameras = [camera.model_dump(mode="json") for camera in config.cameras]
        try:
            agent.apply_config_update(ConfigUpdate(request_id=uuid4(), version=1, config={"cameras": cameras}))
        except Exception as err:  # noqa: BLE001 - re-raised below in the caller's thread
            errors.append(err)

    threads = [threading.Thread(target=update, args=pair) for pair in zip(agents, configs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def stop_agents(agents: list[EdgeAgent]) -> None:
    """Stop agents in reverse order."""
    for agent in reversed(agents):
        agent.stop()


def swipe_cards(agent: EdgeAgent, cards: list[str], unknown: tuple[str, ...], stop: threading.Event, interval_s: float):
    """Present residents' cards (and now and then an unknown one) at the agent's card reader until stopped."""
    chooser = random.Random(7)
    choices = cards * 4 + list(unknown)
    reader_id = agent.config.card_readers[0].id
    agent.devices.readers[reader_id].present(cards[0])
    while not stop.wait(interval_s):
        agent.devices.readers[reader_id].present(chooser.choice(choices))  # looked up again: updates rebuild it
