"""Networks as labs have them: pip's trust reaches uv; a missing find-links directory is skipped, as pip does."""

from __future__ import annotations

from pathlib import Path

from envkit.pipconfig import PipSources, read_pip_config


def test_pip_cert_and_requests_bundle_reach_uv(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\ncert = /etc/lab/ca.pem\n")
    env = {"PIP_CONFIG_FILE": str(conf), "HOME": str(tmp_path)}
    assert read_pip_config(env, home=tmp_path).uv_env(env)["SSL_CERT_FILE"] == "/etc/lab/ca.pem"
    plain = PipSources()
    assert plain.uv_env({"REQUESTS_CA_BUNDLE": "/etc/lab/ca.pem"})["SSL_CERT_FILE"] == "/etc/lab/ca.pem"
    assert "SSL_CERT_FILE" not in plain.uv_env({"REQUESTS_CA_BUNDLE": "/a", "SSL_CERT_FILE": "/b"})  # uv reads SSL_CERT_FILE itself


def test_uv_uses_the_system_trust_store_unless_told() -> None:
    env = PipSources().uv_env({})
    assert env["UV_SYSTEM_CERTS"] == "1" and env["UV_NATIVE_TLS"] == "1"
    assert "UV_SYSTEM_CERTS" not in PipSources().uv_env({"UV_NATIVE_TLS": "0"})  # the user's choice stands


def test_missing_find_links_is_skipped_with_a_warning(tmp_path: Path) -> None:
    here = tmp_path / "wheels"
    here.mkdir()
    sources = PipSources(find_links=(str(here), "/no/such/wheels", "file:///no/such/either", "https://mirror.example/links"),
                         files=("/etc/pip.conf",))
    args = sources.uv_args()
    assert args.count("--find-links") == 2 and str(here) in args and "https://mirror.example/links" in args
    assert "/no/such/wheels" not in args
    warnings = sources.warnings()
    assert len(warnings) == 2 and "/no/such/wheels (from /etc/pip.conf) does not exist: skipped, as pip does" in warnings[0]
