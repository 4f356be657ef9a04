"""axe-core in the studio's pages: the vendored `axe/axe.min.js` is evaluated in the
page (the studio's CSP forbids inline script tags, not the test's own evaluation) and
violations of serious or critical impact are reported readably."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).parent / "axe" / "axe.min.js"
BLOCKING = ("serious", "critical")

# Runs axe on the whole document; only the fields a report needs come back.
_RUN = """async (blocking) => {
  const results = await axe.run(document, { resultTypes: ["violations"] });
  return results.violations
    .filter((v) => blocking.includes(v.impact))
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
    }));
}"""


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations of serious or critical impact in the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    violations: list[dict[str, Any]] = page.evaluate(_RUN, list(BLOCKING))
    return violations


def describe(where: str, violations: list[dict[str, Any]]) -> str:
    """One block per violation: rule, impact, help, then each failing element."""
    lines = []
    for violation in violations:
        lines.append(f"{where}: {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)
