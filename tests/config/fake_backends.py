"""Backend factories that misbehave, for the registry tests (named by entry-point values)."""

from tahoe_cloud.backends.memory import MemoryBackend
from tahoe_cloud.config import NodeConfig

NOT_CALLABLE = 42


def returns_not_a_backend(config: NodeConfig) -> object:
    return {"shares": []}


def raises_runtime_error(config: NodeConfig) -> object:
    raise RuntimeError("the factory broke")


def raises_config_error(config: NodeConfig) -> object:
    raise config.error("storage", "fake.url", "is required")


def reads_its_keys(config: NodeConfig) -> MemoryBackend:
    config.get("storage", "fake.url")
    return MemoryBackend()
