"""Creator-facing pages and htmx partials. Each view parses input, calls one service or selector, renders."""
