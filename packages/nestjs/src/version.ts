/**
 * The version of WaveFlow's wire contract (docs/contract.md, the JSON Schemas in `schemas/`) this package speaks.
 * WaveFlow has no contract version constant of its own; the contract is WaveFlow's release line (0.1: its
 * `pyproject.toml` version, the `WaveFlow/0.1` User-Agent of its webhooks). The package's major.minor is this
 * version; its patch releases never change what goes over the wire.
 */
export const WIRE_CONTRACT_VERSION = '0.1';
