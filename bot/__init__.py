"""Nudge's composition and runtime: settings, the Slack app, the web server, the CLI."""
