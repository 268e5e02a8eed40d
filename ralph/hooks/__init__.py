"""ralph's guard as a pre-tool hook for Claude Code, Codex and Gemini CLI: the host's
protocols (`hosts`), answering one hook call (`answer`), and adding the hook to a host's
settings (`install`)."""
