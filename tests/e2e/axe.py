"""axe-core in the browser tests: the npm package's own script (tests/a11y, installed by `make test`),
injected into every page of a context, and a check that fails on serious or critical violations."""

from pathlib import Path

AXE_SCRIPT = Path(__file__).resolve().parent.parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")

# Through page.evaluate (the debugger), which the Content-Security-Policy does not govern.
# Waits first for animations that end (a take card fades in): axe would read their colours half-way.
AXE_RUN = """async (impacts) => {
  const ending = document.getAnimations().filter((animation) => animation.effect?.getTiming().iterations !== Infinity);
  await Promise.all(ending.map((animation) => animation.finished.catch(() => null)));
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.filter((violation) => impacts.includes(violation.impact)).map((violation) => ({
    id: violation.id, impact: violation.impact, help: violation.help, helpUrl: violation.helpUrl,
    nodes: violation.nodes.map((node) => ({target: node.target.join(" "), summary: node.failureSummary})),
  }));
}"""


def axe_inject(context) -> None:
    """Every page the browser context opens from now on carries axe, before its own scripts run.
    An init script goes in through the debugger, so the page's CSP (script-src 'self') allows it."""
    if not AXE_SCRIPT.exists():
        raise RuntimeError(f"axe-core is not installed at {AXE_SCRIPT}: run `make test`, or "
                           "`cd tests/a11y && npm ci --no-audit --no-fund`")
    context.add_init_script(path=AXE_SCRIPT)


def axe_blocking_violations(page) -> list[dict]:
    """axe's violations of serious or critical impact on the page as it is now."""
    return page.evaluate(AXE_RUN, list(BLOCKING_IMPACTS))


def axe_report(violations: list[dict]) -> str:
    """Each violation's id, impact, help and the nodes it found, one block per violation."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}")
        lines += [f"    {node['target']}: {' '.join(node['summary'].split())}" for node in violation["nodes"]]
    return "\n".join(lines)


def assert_accessible(page, where: str = "") -> None:
    """Fails, listing what axe found, when the page has a serious or critical violation."""
    violations = axe_blocking_violations(page)
    assert not violations, f"axe-core on {where or page.url}:\n{axe_report(violations)}"
