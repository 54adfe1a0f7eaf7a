"""scanbox's browser: capture what one untrusted page does, in Chromium, inside a container."""
