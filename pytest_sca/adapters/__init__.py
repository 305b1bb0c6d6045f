"""Transport adapters: each connects to one part of a target and serves capabilities of the
contract (:mod:`pytest_sca.capabilities`) through its ``implementations``; the registry
(:mod:`pytest_sca.adapters.registry`) lists the built-in transports and finds vendors' by
entry point."""
