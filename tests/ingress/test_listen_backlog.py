"""A burst of new connections while the ingress is not accepting (a stall of its loop, a GC
pause, a provider opening a connection per callback) is held by the kernel, up to the listen
backlog: past it the kernel drops the SYNs and each of those clients waits its 1 s SYN
retransmission, the 1 s stall aiohttp's default of 128 caused in the ingest benchmark."""

from __future__ import annotations

import asyncio
import signal
import socket

from fasthook.embedded import free_port
from tests.support.processes import ServiceProcess

BURST = 300  # past aiohttp's default backlog of 128
CONNECT_DEADLINE_S = 30.0  # generous: the kernel completes these handshakes itself


async def test_a_burst_of_connections_waits_in_the_backlog_while_the_ingress_stalls(
    settings, tmp_path
):
    assert BURST < settings.ingress_listen_backlog  # the default is sized for bursts
    process = ServiceProcess(
        "ingress",
        settings.with_(ingress_port=free_port(), ingress_metrics_port=free_port()),
        tmp_path / "ingress.log",
    )
    address = (process.settings.ingress_host, process.settings.ingress_port)
    loop = asyncio.get_running_loop()
    sockets: list[socket.socket] = []
    process.start()
    try:
        await process.wait_ready(f"{process.settings.public_base_url}/readyz", timeout_s=60)
        process.signal(signal.SIGSTOP)  # accepts nothing until SIGCONT: the kernel holds all
        for _ in range(BURST):
            sock = socket.socket()
            sock.setblocking(False)
            sockets.append(sock)
        # Beyond the backlog these would hang in SYN retransmissions for as long as it stalls.
        await asyncio.wait_for(
            asyncio.gather(*(loop.sock_connect(sock, address) for sock in sockets)),
            CONNECT_DEADLINE_S,
        )
        process.signal(signal.SIGCONT)
        request = b"GET /healthz HTTP/1.1\r\nHost: ingress\r\nConnection: close\r\n\r\n"
        answers = await asyncio.gather(*(exchange(loop, sock, request) for sock in sockets))
    finally:
        process.signal(signal.SIGCONT)
        for sock in sockets:
            sock.close()
        process.kill()
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), {
        answer[:40] for answer in answers
    }


async def exchange(loop: asyncio.AbstractEventLoop, sock: socket.socket, request: bytes) -> bytes:
    """The whole answer to `request` on a connection the server closes after answering."""
    await loop.sock_sendall(sock, request)
    answer = b""
    while chunk := await asyncio.wait_for(loop.sock_recv(sock, 65536), CONNECT_DEADLINE_S):
        answer += chunk
    return answer
