"""The SIP adapter (turns signalling into domain commands); built by the call-control issue."""
