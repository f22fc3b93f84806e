"""search.json's summary -> one self-contained HTML page (the style of hwkit.report.html)."""
from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from hwkit.atomic import write_bytes_atomic, write_text_atomic
from hwkit.report.html import TEMPLATE as _REPORT

STYLE = _REPORT[_REPORT.index("<style>"):_REPORT.index("</style>") + len("</style>")]

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hwkit search: {{ c.model }} on {{ c.board }}</title>
{{ style|safe }}</head><body>
<h1>Mixed-precision search: {{ c.model }} &rarr; {{ c.board }}</h1>
<p class="sub">dataset {{ c.dataset }} &middot; weight widths {{ c.wmenu|join(",") }} &middot; activation widths
{{ c.amenu|join(",") }} &middot; {{ c.epochs }} QAT epochs per point &middot; {{ s.points }} points, {{ s.designs }} designs
{% if s.stopped %}&middot; <b class="bad">stopped early ({{ s.stopped }}); rerun to continue</b>{% endif %}</p>
<h2>Fronts</h2>
<p>Red: the Pareto front of all designs; orange: of the uniform-width designs only. Accuracy is the mean over seeds
(error bars: standard deviation) where more than one seed was trained. Black crosses: Yosys LUTs of front points.</p>
<img src="data:image/png;base64,{{ png }}" alt="accuracy against LUTs, BRAM and throughput">
<h2>Front points, accuracy vs LUTs</h2>
<table><tr><th class="l">design</th><th>accuracy</th><th>seeds</th><th>LUT</th><th>FF</th><th>BRAM</th><th>II</th><th>samples/s</th></tr>
{% for r in front %}<tr><td>{{ r.id }}{{ " (uniform)" if r.uniform else "" }}</td><td>{{ "%.4f"|format(r.accuracy) }}{% if r.accuracy_std is not none %} &plusmn; {{ "%.4f"|format(r.accuracy_std) }}{% endif %}</td>
<td>{{ r.seeds }}</td><td>{{ r.lut }}</td><td>{{ r.ff }}</td><td>{{ r.bram }}</td><td>{{ r.ii_cycles }}</td><td>{{ "{:,.0f}".format(r.fps) }}</td></tr>
{% endfor %}</table>
<h2>Mixed against uniform at equal LUTs</h2>
<table><tr><th class="l">mixed front point</th><th>LUT</th><th>accuracy</th><th class="l">best uniform at &le; LUTs</th><th>LUT</th><th>accuracy</th><th>margin</th><th>beats</th></tr>
{% for m in s.mixed_vs_uniform %}<tr><td>{{ m.mixed }}</td><td>{{ m.lut }}</td><td>{{ pm(m.accuracy, m.std) }}</td><td class="l">{{ m.uniform or "none" }}</td>
<td>{{ m.uniform_lut or "-" }}</td><td>{{ pm(m.uniform_accuracy, m.uniform_std) }}</td><td>{{ "%+.4f"|format(m.margin) if m.margin is not none else "-" }}</td>
<td class="{{ 'ok' if m.beats_by_more_than_std else '' }}">{{ "yes, beyond 1 std" if m.beats_by_more_than_std else ("yes (within noise)" if m.beats else "no") }}</td></tr>
{% endfor %}</table>
<h2>Yosys and nextpnr on front points</h2>
<table><tr><th class="l">design</th><th>LUT est.</th><th>LUT Yosys</th><th>FF est.</th><th>FF Yosys</th><th>BRAM est.</th><th>BRAM Yosys</th><th>Fmax (MHz)</th></tr>
{% for y in s.synth %}<tr><td>{{ y.id }}</td><td>{{ y.estimate.lut }}</td><td>{{ y.synth.lut if y.synth else y.status }}</td><td>{{ y.estimate.ff }}</td>
<td>{{ y.synth.ff if y.synth else "-" }}</td><td>{{ y.estimate.bram }}</td><td>{{ y.synth.bram if y.synth else "-" }}</td><td>{{ "%.1f"|format(y.fmax_mhz) if y.fmax_mhz else "-" }}</td></tr>
{% endfor %}</table>
<h2>Sensitivity (each layer alone at the narrowest width)</h2>
<table><tr><th class="l">layer</th><th>accuracy</th><th>drop vs all widest</th></tr>
{% for k, v in s.sensitivity.accuracy.items() %}<tr><td>{{ k }}</td><td>{{ "%.4f"|format(v) if v is not none else "-" }}</td>
<td>{{ "%+.4f"|format(s.sensitivity.drop[k]) if k in s.sensitivity.drop and s.sensitivity.drop[k] is not none else "-" }}</td></tr>
{% endfor %}</table>
<h2>All designs</h2>
<table><tr><th class="l">design</th><th>accuracy</th><th>seeds</th><th>LUT</th><th>BRAM</th><th>samples/s</th></tr>
{% for r in s.rows %}<tr><td>{{ r.id }}</td><td>{{ pm(r.accuracy, r.accuracy_std) }}</td><td>{{ r.seeds }}</td><td>{{ r.lut }}</td><td>{{ r.bram }}</td><td>{{ "{:,.0f}".format(r.fps) }}</td></tr>
{% endfor %}</table>
</body></html>
"""


def _pm(mean, std):
    if mean is None:
        return "-"
    return f"{mean:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def write_html(root: Path, summary: dict, config: dict) -> Path:
    from hwkit.search import front as fr

    png = fr.front_plot(summary["rows"], summary["synth"]) if summary["rows"] else b""
    write_bytes_atomic(Path(root) / "front.png", png)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    html = env.from_string(TEMPLATE).render(c=config, s=summary, style=STYLE, png=base64.b64encode(png).decode(),
                                            front=fr.pareto(summary["rows"], "lut") if summary["rows"] else [], pm=_pm)
    return write_text_atomic(Path(root) / "search.html", html)
