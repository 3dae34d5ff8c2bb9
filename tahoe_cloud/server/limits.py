"""What one request, one client and the whole server may ask of the core.

Each limit bounds memory or work that would otherwise grow with what a
client says rather than with what it sends. Every one sits well above what
the stock Tahoe-LAFS 1.20 client asks for (noted beside it), so the stock
client never meets them. They are this server's policy, declared here once;
the HTTP schemas and the core both check them. Limits that are facts of the
protocol (share numbers, test and read vectors per request) are in
``tahoe_cloud.vocabulary``.
"""

from __future__ import annotations

MiB = 1024 * 1024

# --- read-test-write ------------------------------------------------------

#: Write vectors per request, all shares together. The stock client sends a
#: whole share in one request: one vector per 128 KiB segment of the file plus
#: at most eight, so 32768 carry an MDMF file of 4 GiB (a 64 MiB share needs
#: at most 1,544 with the default 3-of-10 encoding).
MAX_WRITE_VECTORS = 32768

#: Bytes of share data one read-test-write answer may carry (all read vectors
#: on all shares). The stock client reads a 41- or 57-byte header of each
#: share; past this the request is refused before anything is read or written.
MAX_READ_ANSWER = 8 * MiB

# --- immutable uploads in progress ----------------------------------------

#: Uploads in progress (one per share being uploaded) on the whole server.
#: Each costs a few KiB of memory until written or timed out (30 minutes).
MAX_UPLOADS = 16384

#: Uploads in progress started from one client address. One stock upload
#: allocates at most N shares (10 by default, 256 at most) on a server. The
#: address is the one thing a client cannot change at will: the swissnum is
#: shared by all clients and the upload secret is chosen per allocate.
MAX_UPLOADS_PER_CLIENT = 4096
