"""What an ``S3Backend`` is told: its node's settings, and one frozen ``Tuning`` of its knobs.

``config`` builds both from tahoe.cfg; tests build them directly. Tuning
holds only performance and size knobs, with the production values as
defaults, so a test changes one knob without restating the others.
"""

from __future__ import annotations

from attrs import field, frozen

from tahoe_cloud.backends.s3.aborts import DEFAULT_DELAYS
from tahoe_cloud.backends.s3.keys import KeyLayout
from tahoe_cloud.backends.s3.readahead import DEFAULT_WINDOW
from tahoe_cloud.backends.s3.sharecache import LISTING_ENTRIES
from tahoe_cloud.vocabulary import MAX_MUTABLE_SHARE_SIZE

DEFAULT_INLINE_LIMIT = 128 * 1024
DEFAULT_CHUNK_SIZE = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024
DEFAULT_PARALLEL_PARTS = 4
# Share bodies (single PUTs and parts) being sent at once, across all uploads,
# however many clients publish together. Each is streamed from its spool file
# (a few hundred KiB in memory), so this bounds sockets and S3 load, not memory.
DEFAULT_PUBLISH_BUFFERS = 8
# Mutable heads kept (each holds up to ``inline_limit`` bytes of share data).
HEAD_CACHE_ENTRIES = 10_000


def _delays(value: object) -> tuple[float, ...]:
    return tuple(float(d) for d in value)  # type: ignore[attr-defined]


@frozen
class Tuning:
    """Sizes, parallelism and cache bounds (the defaults are what a node runs with).

    ``inline_limit``: mutable shares up to this size live inside their head;
    ``chunk_size``: the chunk of larger ones; ``multipart_threshold`` and
    ``part_size``: immutable shares above the threshold go up in parts;
    ``parallel_parts``: parts (or mutable chunks) of one share sent at once;
    ``publish_buffers``: share bodies being sent at once, all uploads together;
    ``read_ahead``: bytes a missed immutable read fetches (0: just what is read);
    ``abort_retry_delays``: seconds before each retry of a failed multipart abort.
    """

    inline_limit: int = DEFAULT_INLINE_LIMIT
    chunk_size: int = DEFAULT_CHUNK_SIZE
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    part_size: int = DEFAULT_PART_SIZE
    parallel_parts: int = DEFAULT_PARALLEL_PARTS
    publish_buffers: int = DEFAULT_PUBLISH_BUFFERS
    maximum_mutable_share_size: int = MAX_MUTABLE_SHARE_SIZE
    listing_cache_entries: int = LISTING_ENTRIES
    head_cache_entries: int = HEAD_CACHE_ENTRIES
    read_ahead: int = DEFAULT_WINDOW
    abort_retry_delays: tuple[float, ...] = field(default=DEFAULT_DELAYS, converter=_delays)


@frozen
class BackendSettings:
    """What the operator decides for one node (``[storage] s3.*`` beyond the connection).

    ``require_conditional_writes``: refuse to start on a service whose
    conditional PUTs the probe found broken (else run without them).
    """

    node_id: str
    keys: KeyLayout = field(factory=KeyLayout)
    quota: int | None = None
    override_marker: bool = False
    clean_at_start: bool = False
    require_conditional_writes: bool = True
    tuning: Tuning = field(factory=Tuning)
