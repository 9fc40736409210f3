"""Tool-flow drivers: take an artifact directory and a board/part, run the tools, write reports."""
