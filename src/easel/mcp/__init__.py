"""easel's MCP server: Stability's operations as tools for MCP clients
(desktop assistants, IDEs). The tools call `easel.client` over HTTP, so the
server fronts easel or api.stability.ai alike (``API_HOST``,
``STABILITY_API_KEY``). Start it with ``easel mcp``.
"""
