"""The webhook URL checker (matchq.netguard): what it refuses, what it lets through."""

from __future__ import annotations

import ipaddress

import pytest

from matchq import netguard
from matchq.netguard import UnsafeUrl, check_url, parse_url


def public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/",
        "https://172.16.5.4/",
        "https://192.168.1.1/",
        "https://127.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://240.0.0.1/",
        "https://255.255.255.255/",
        "https://[::1]/",
        "https://[::]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:7f00:1::]/",
        "https://[fd00:ec2::254]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://[ff02::1]/",
        "https://0x7f.1/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "http://example.com/",
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https:///nohost",
        "https://exa mple.com/",
        "https://example.com:99999/",
        "https://" + "a" * 2050 + ".com/",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match=r"^url: "):
        check_url(url, resolver=public)


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], ["10.1.2.3"], ["93.184.215.14", "169.254.169.254"], ["::1"], []],
)
def test_a_name_is_refused_when_any_address_it_resolves_to_is(answer: list[str]) -> None:
    with pytest.raises(UnsafeUrl):
        check_url("https://hooks.example.com/x", resolver=lambda h, p: answer)


def test_a_public_name_is_checked_and_its_addresses_kept() -> None:
    target = check_url("https://Hooks.Example.com:8443/a/b?c=d", resolver=public)
    assert (target.host, target.port, target.path) == ("hooks.example.com", 8443, "/a/b?c=d")
    assert target.addresses == ("93.184.215.14",)


def test_a_resolver_failure_is_a_refusal() -> None:
    def broken(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_url("https://nowhere.example/", resolver=broken)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://localhost:9000/", "https://[::1]:8443/"]
)
def test_loopback_only_when_allowed(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, resolver=lambda h, p: ["127.0.0.1"])
    check_url(url, allow_loopback=True, resolver=lambda h, p: ["127.0.0.1"])


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://example.com/"]
)
def test_allowing_loopback_allows_nothing_else(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_loopback=True, resolver=public)


def test_the_post_connects_to_the_checked_address_only(monkeypatch: pytest.MonkeyPatch) -> None:
    connected: list[tuple[str, int]] = []

    def fake_connect(address: tuple[str, int], timeout: float) -> object:
        connected.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(netguard.socket, "create_connection", fake_connect)
    target = parse_url("http://localhost:8080/x", allow_loopback=True)
    target = netguard.Target(**{**target.__dict__, "addresses": ("127.0.0.1",)})
    with pytest.raises(ConnectionRefusedError):
        netguard.post(target, b"{}", {})
    assert connected == [("127.0.0.1", 8080)]


def test_an_unchecked_target_is_never_posted_to() -> None:
    with pytest.raises(UnsafeUrl):
        netguard.post(parse_url("https://example.com/"), b"{}", {})


def test_every_blocked_network_is_refused() -> None:
    for net in netguard._BLOCKED:
        assert netguard.address_problem(ipaddress.ip_address(net.network_address)) is not None
