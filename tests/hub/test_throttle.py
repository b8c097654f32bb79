"""Who the token throttle counts as one client (core.throttle.client_key), a plain function on the
address uvicorn reports."""

from core.throttle import client_key


def test_an_ipv6_client_is_counted_by_its_64_since_one_host_can_use_any_address_in_it():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"


def test_ipv6_clients_in_different_64s_are_counted_apart():
    assert client_key("2001:db8:1:2::1") != client_key("2001:db8:1:3::1")


def test_an_ipv4_client_is_counted_by_its_whole_address():
    assert client_key("203.0.113.9") == "203.0.113.9"
    assert client_key("203.0.113.10") != client_key("203.0.113.9"), "neighbours are other clients"


def test_an_ipv4_address_mapped_into_ipv6_is_counted_as_the_ipv4_one():
    assert client_key("::ffff:203.0.113.9") == "203.0.113.9", "not as the whole ::ffff:0:0/64"


def test_what_is_not_an_address_is_counted_as_it_is():
    assert client_key("") == "" and client_key("unix:/run/hub.sock") == "unix:/run/hub.sock"
