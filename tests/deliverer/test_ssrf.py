import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverer.ssrf import is_blocked, parse_allow_list

BLOCKED = [
    "127.0.0.1",
    "127.255.0.9",
    "::1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "fe80::1",
    "fe80::1%eth0",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    "100.64.0.1",  # CGNAT
    "100.127.255.255",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "fec0::1",  # deprecated site-local
    "::ffff:127.0.0.1",  # IPv4-mapped forms of blocked IPv4
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 to 127.0.0.1
    "2002:a00:1::",  # 6to4 relaying to 10.0.0.1
    "[::1]",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "[2606:4700:4700::1111]",
]
NOT_ADDRESSES = [
    "",
    "localhost",
    "metadata.google.internal",
    "127.1",
    "0x7f000001",
    "2130706433",
    "127.0.0.1:80",
    "10.0.0.0/8",
    " 8.8.8.8x",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked(address):
    assert is_blocked(address, []) is True


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert is_blocked(address, []) is False


@pytest.mark.parametrize("address", NOT_ADDRESSES)
def test_non_addresses_are_blocked(address):
    assert is_blocked(address, []) is True


def test_non_string_is_blocked():
    assert is_blocked(None, []) is True  # type: ignore[arg-type]
    assert is_blocked(b"8.8.8.8", []) is True  # type: ignore[arg-type]


def test_allow_list_permits_addresses_and_cidrs():
    allow = ["127.0.0.1/32", "::1", "10.0.0.0/8"]
    assert not is_blocked("127.0.0.1", allow)
    assert not is_blocked("::1", allow)
    assert not is_blocked("10.20.30.40", allow)
    assert not is_blocked("::ffff:127.0.0.1", allow)  # the same host, spelled as IPv6
    assert is_blocked("127.0.0.2", allow)
    assert is_blocked("192.168.0.1", allow)
    assert is_blocked("169.254.169.254", allow)


def test_invalid_allow_entries_are_ignored():
    assert is_blocked("127.0.0.1", ["nonsense", "", "127.0.0.1/40"])
    assert not is_blocked("127.0.0.1", ["nonsense", "127.0.0.0/8"])
    assert is_blocked("127.0.0.1", None)  # type: ignore[arg-type]


def test_parse_allow_list():
    assert parse_allow_list("127.0.0.1/32, ::1 ,,10.0.0.0/8") == [
        "127.0.0.1/32",
        "::1/128",
        "10.0.0.0/8",
    ]
    assert parse_allow_list("") == []
    assert parse_allow_list("  ") == []


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3", "::1/129", "*"])
def test_parse_allow_list_names_the_bad_entry(entry):
    with pytest.raises(ValueError, match="allow-list entry") as info:
        parse_allow_list(f"127.0.0.1, {entry}")
    assert repr(entry) in str(info.value)


def test_parse_allow_list_rejects_host_bits_with_a_suggestion():
    with pytest.raises(ValueError, match=r"'10\.1\.2\.3/8'.*'10\.0\.0\.0/8'"):
        parse_allow_list("10.1.2.3/8")


def test_parsed_allow_list_works_with_is_blocked():
    allow = parse_allow_list("127.0.0.1/32,::1")
    assert not is_blocked("127.0.0.1", allow)
    assert not is_blocked("::1", allow)


@given(st.text(), st.lists(st.text(), max_size=3))
def test_never_raises(address, allow):
    assert is_blocked(address, allow) in (True, False)


@given(st.ip_addresses())
def test_never_raises_on_real_addresses(address):
    assert is_blocked(str(address), []) in (True, False)
    # An allowed address is never blocked, whatever range it is in.
    assert is_blocked(str(address), [str(address)]) is False


@given(st.ip_addresses(v=4, network="10.0.0.0/8") | st.ip_addresses(v=6, network="fc00::/7"))
def test_private_ranges_are_blocked(address):
    assert is_blocked(str(address), [])
