"""Just enough PromQL to check an alerting or recording rule offline, without a PromQL parser in the dependencies.

`check(expr)` returns (problems, metric names): a problem is an unbalanced or mismatched bracket, an unterminated
string, or a call of something that is not a PromQL function; the metric names are every identifier in the
expression that is not a function, an aggregation, a keyword or a label name (label matchers `{...}`, ranges
`[...]` and the label lists after by/without/on/ignoring/group_left/group_right are skipped), plus the names given
as `{__name__="..."}`. Whether those metrics exist is the caller's question.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# https://prometheus.io/docs/prometheus/latest/querying/functions/ (Prometheus 3.x, experimental ones included)
FUNCTIONS = _words(
    """
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv
    double_exponential_smoothing exp first_over_time floor histogram_avg histogram_count histogram_fraction
    histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters hour idelta increase info irate
    label_join label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute month
    pi predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh sort
    sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh time
    timestamp ts_of_first_over_time ts_of_last_over_time ts_of_max_over_time ts_of_min_over_time vector year
    start end
    """
)
# https://prometheus.io/docs/prometheus/latest/querying/operators/#aggregation-operators
AGGREGATIONS = _words("sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio")
KEYWORDS = _words("and or unless atan2 by without on ignoring group_left group_right bool offset")
_LABEL_LIST_AFTER = _words("by without on ignoring group_left group_right")
_SPECIAL_NUMBERS = frozenset({"inf", "nan"})

_IDENTIFIER = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_NAME_MATCHER = re.compile(r"__name__\s*=\s*$")
_PAIRS = {")": "(", "]": "[", "}": "{"}


def _strip(expr: str) -> tuple[str, list[str], list[str]]:
    """The expression with comments, strings, label matchers and ranges blanked out (same length), the problems
    found on the way and the metric names given as `__name__="..."`."""
    out: list[str] = []
    problems: list[str] = []
    names: list[str] = []
    stack: list[tuple[str, int]] = []
    i, n = 0, len(expr)
    while i < n:
        char = expr[i]
        inside = stack[-1][0] if stack else ""
        if char in "\"'`":
            end, value = _string_end(expr, i)
            if end < 0:
                problems.append(f"unterminated string from offset {i}")
                break
            if inside == "{" and _NAME_MATCHER.search(expr[stack[-1][1] + 1 : i]):
                names.append(value)
            out.append(" " * (end - i))
            i = end
            continue
        if char == "#":  # a comment, to the end of the line
            newline = expr.find("\n", i)
            stop = n if newline < 0 else newline
            out.append(" " * (stop - i))
            i = stop
            continue
        if char in "([{":
            stack.append((char, i))
        elif char in ")]}":
            if not stack:
                problems.append(f"unbalanced '{char}' at offset {i}")
            elif stack[-1][0] != _PAIRS[char]:
                problems.append(f"'{stack[-1][0]}' at offset {stack[-1][1]} closed by '{char}' at offset {i}")
                stack.pop()
            else:
                stack.pop()
        # inside {...} (label matchers) and [...] (ranges, subqueries): no metric names, blank them
        blank = (bool(stack) and stack[-1][0] in "{[") or char in "]}"
        out.append(" " if blank and char != "\n" else char)
        i += 1
    problems.extend(f"unclosed '{opened}' at offset {offset}" for opened, offset in stack)
    return "".join(out), problems, names


def _string_end(expr: str, start: int) -> tuple[int, str]:
    """(index after the closing quote or -1, the string's raw content)."""
    quote, i = expr[start], start + 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1, expr[start + 1 : i]
        i += 1
    return -1, ""


def _blank_label_lists(text: str) -> str:
    """Blank the `(label, ...)` after by/without/on/ignoring/group_left/group_right."""
    chars = list(text)
    for match in _IDENTIFIER.finditer(text):
        if match.group(0) not in _LABEL_LIST_AFTER:
            continue
        j = match.end()
        while j < len(chars) and chars[j].isspace():
            j += 1
        if j < len(chars) and chars[j] == "(":
            close = text.find(")", j)
            for k in range(j + 1, close if close >= 0 else len(chars)):
                chars[k] = " "
    return "".join(chars)


def check(expr: str) -> tuple[list[str], set[str]]:
    """(problems, metric names) of one PromQL expression."""
    stripped, problems, names = _strip(expr)
    stripped = _blank_label_lists(stripped)
    metrics = set(names)
    for match in _IDENTIFIER.finditer(stripped):
        word = match.group(0)
        rest = stripped[match.end() :].lstrip()
        if rest.startswith("("):
            if word not in FUNCTIONS and word not in AGGREGATIONS and word not in _LABEL_LIST_AFTER:
                problems.append(f"{word}(...) is not a PromQL function or aggregation")
            continue
        if word in KEYWORDS or word in AGGREGATIONS or word.lower() in _SPECIAL_NUMBERS:
            continue
        metrics.add(word)
    if not stripped.strip():
        problems.append("empty expression")
    return problems, metrics
