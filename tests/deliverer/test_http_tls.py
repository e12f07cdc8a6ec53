"""https destinations: the certificate and the host name are verified, then kept alive."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deliverer.outgoing import HttpRequest
from deliverer.sending import make_session, send
from deliverer.ssrf import DestinationGuard
from tests.support.http import read_request

GUARD = DestinationGuard(["127.0.0.1/32"])
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def certificate(tmp: Path, address: str) -> tuple[Path, Path]:
    """A self-signed certificate for the IP `address`, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fasthook test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{address}.pem", tmp / f"{address}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def tls_server(cert: Path, key: Path) -> tuple[asyncio.Server, list[int]]:
    """An https server on loopback answering OK to each request; the list counts connections."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    connections = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        try:
            while True:
                await read_request(reader)
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return server, connections


async def post(url: str, count: int) -> list[tuple[int | None, str | None]]:
    client = make_session(GUARD, 5)
    try:
        return [
            (
                (o := await send(client, HttpRequest("POST", url, [], b"x"), 5, GUARD)).status,
                o.error_code,
            )
            for _ in range(count)
        ]
    finally:
        await client.close()


async def test_an_untrusted_certificate_is_a_tls_error(tmp_path):
    server, _ = await tls_server(*certificate(tmp_path, "127.0.0.1"))
    port = server.sockets[0].getsockname()[1]
    try:
        assert await post(f"https://127.0.0.1:{port}/hook", 1) == [(None, "TLS_ERROR")]
    finally:
        server.close()


async def test_a_trusted_certificate_is_used_and_its_connection_kept(tmp_path, monkeypatch):
    cert, key = certificate(tmp_path, "127.0.0.1")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the trust store the client reads
    server, connections = await tls_server(cert, key)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await post(f"https://127.0.0.1:{port}/hook", 3) == [(200, None)] * 3
    finally:
        server.close()
    assert connections == [1]


async def test_a_certificate_for_another_address_is_a_tls_error(tmp_path, monkeypatch):
    cert, key = certificate(tmp_path, "127.0.0.2")  # trusted, but not for 127.0.0.1
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    server, _ = await tls_server(cert, key)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await post(f"https://127.0.0.1:{port}/hook", 1) == [(None, "TLS_ERROR")]
    finally:
        server.close()
