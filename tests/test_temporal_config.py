"""The Temporal configurations docs/temporal.md documents load as the `temporal` CLI would load them."""

from __future__ import annotations

from pathlib import Path

from temporal_client import DEFAULT_ADDRESS, connect_config

CLOUD_API_KEY_ADDRESS = "ap-northeast-2.aws.api.temporal.io:7233"
CLOUD_MTLS_ADDRESS = "my-namespace.a1b2c.tmprl.cloud:7233"


def test_temporal_cloud_with_an_api_key_turns_tls_on() -> None:
    config = connect_config({"TEMPORAL_ADDRESS": CLOUD_API_KEY_ADDRESS, "TEMPORAL_NAMESPACE": "my-namespace.a1b2c",
                             "TEMPORAL_API_KEY": "secret-key"})
    assert config == {"target_host": CLOUD_API_KEY_ADDRESS, "namespace": "my-namespace.a1b2c",
                      "api_key": "secret-key", "tls": True}


def test_temporal_cloud_with_mtls_reads_the_client_certificate(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_bytes(b"certificate")
    (tmp_path / "client.key").write_bytes(b"private key")
    config = connect_config({"TEMPORAL_ADDRESS": CLOUD_MTLS_ADDRESS, "TEMPORAL_NAMESPACE": "my-namespace.a1b2c",
                             "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
                             "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key")})
    tls = config.pop("tls")
    assert config == {"target_host": CLOUD_MTLS_ADDRESS, "namespace": "my-namespace.a1b2c"}
    assert (tls.client_cert, tls.client_private_key) == (b"certificate", b"private key")  # type: ignore[attr-defined]


def test_self_hosted_from_a_profile_of_the_cli_config_file(tmp_path: Path) -> None:
    (tmp_path / "temporal.toml").write_text('[profile.production]\naddress = "temporal-frontend.temporal:7233"\n'
                                            'namespace = "waveflow"\n')
    config = connect_config({"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"),
                             "TEMPORAL_PROFILE": "production"})
    assert config == {"target_host": "temporal-frontend.temporal:7233", "namespace": "waveflow"}


def test_environment_overrides_the_profile(tmp_path: Path) -> None:
    (tmp_path / "temporal.toml").write_text('[profile.default]\naddress = "old:7233"\nnamespace = "waveflow"\n')
    config = connect_config({"TEMPORAL_CONFIG_FILE": str(tmp_path / "temporal.toml"),
                             "TEMPORAL_ADDRESS": "temporal-frontend.temporal:7233"})
    assert config == {"target_host": "temporal-frontend.temporal:7233", "namespace": "waveflow"}


def test_an_empty_variable_is_an_unset_one() -> None:
    """Compose's `${TEMPORAL_API_KEY:-}` or an empty Secret key must not switch TLS on against a plain server."""
    config = connect_config({"TEMPORAL_ADDRESS": "temporal:7233", "TEMPORAL_NAMESPACE": "", "TEMPORAL_API_KEY": ""})
    assert config == {"target_host": "temporal:7233"}
    assert connect_config({}) == {"target_host": DEFAULT_ADDRESS}
