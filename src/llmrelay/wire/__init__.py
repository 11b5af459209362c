"""Wire formats: SSE framing and the renderer protocol every answer goes out through."""
