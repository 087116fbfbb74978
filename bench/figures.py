"""How the benchmarks count and print: percentiles and milliseconds."""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def p50_p99(values: list[float]) -> str:
    return f"p50 {ms(percentile(values, 50))}   p99 {ms(percentile(values, 99))}"
