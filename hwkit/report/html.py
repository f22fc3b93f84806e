"""report.json -> one self-contained HTML page (no external files, scripts or fonts)."""
from __future__ import annotations

import base64
import io

import jinja2

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>hwkit report: {{ r.model.name or "model" }} on {{ r.board.name }} ({{ r.backend }})</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1d2433;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #d5dae3;padding-bottom:.2em}
.sub{color:#5b6478;margin-top:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.7em}
.card{border:1px solid #d5dae3;border-radius:8px;padding:.6em .8em;background:#f8f9fb}
.card .k{color:#5b6478;font-size:.85em}.card .v{font-size:1.35em;font-weight:600}
.ok{color:#17803d}.bad{color:#b42318}.na{color:#8a93a6}
table{border-collapse:collapse;width:100%;font-size:.92em}th,td{padding:.3em .55em;border-bottom:1px solid #e4e7ee;text-align:right}
th{background:#f1f3f7}td:first-child,th:first-child,td.l,th.l{text-align:left}
img{max-width:100%;border:1px solid #e4e7ee;border-radius:6px}
code{background:#f1f3f7;padding:0 .25em;border-radius:3px}
.plots{display:grid;grid-template-columns:1fr 1fr;gap:1em}@media(max-width:800px){.plots{grid-template-columns:1fr}}
</style></head><body>
<h1>{{ r.model.name or "model" }} &rarr; {{ r.board.title }}</h1>
<p class="sub">backend <b>{{ r.backend }}</b> &middot; part <code>{{ r.board.part }}</code> &middot; toolchain {{ r.board.toolchain }}
&middot; dataset {{ r.model.dataset }} &middot; report schema {{ r.schema }}</p>

<h2 id="summary">Summary</h2>
<div class="cards">
{% for k, v, cls in cards %}<div class="card"><div class="k">{{ k }}</div><div class="v {{ cls }}">{{ v }}</div></div>
{% endfor %}</div>
{% set t = r.throughput %}{% if t %}
<h3 id="throughput">Throughput: core and link</h3>
<table><tr><th class="l">path</th><th>bytes in / sample</th><th>bytes out / sample</th><th>samples/s</th><th class="l">note</th></tr>
<tr><td>core (clock / II)</td><td>-</td><td>-</td><td>{{ fmt(t.core_fps) }}</td><td class="l">{{ "the bound" if t.bound == "core" else "" }}</td></tr>
{% for label, row in (("link", t.link), ("link at the board's max baud", t.link_max)) %}{% if row %}
<tr><td>{{ label }}: {{ row.top }}{{ " at {:,} baud".format(row.baud) if row.baud else "" }}</td><td>{{ row.bytes_in }}</td><td>{{ row.bytes_out }}</td>
<td>{{ fmt(row.fps) }}</td><td class="l">{{ row.reason or ("the bound" if label == "link" and t.bound == "link" else "") }}</td></tr>
{% endif %}{% endfor %}
<tr><th>effective (min of core and link)</th><th></th><th></th><th>{{ fmt(t.effective_fps) }}</th><th class="l">bound: {{ t.bound or "-" }}</th></tr>
</table>{% endif %}

<h2 id="layers">Layers</h2>
<table><tr><th>layer</th><th class="l">kind</th><th>W/A/O bits</th><th>PE&times;SIMD</th><th>cycles</th>
<th>LUT est</th><th>LUT syn</th><th>FF est</th><th>FF syn</th><th>BRAM est</th><th>BRAM syn</th><th>DSP est</th><th>DSP syn</th></tr>
{% for l in r.layers %}<tr><td>{{ l.name }}</td><td class="l">{{ l.kind }}</td><td>{{ l.wbits or "-" }}/{{ l.abits }}/{{ l.obits }}</td>
<td>{{ l.pe }}&times;{{ l.simd }}</td><td>{{ "{:,}".format(l.cycles) }}</td>
{% for k in keys %}<td>{{ fmt(l.estimated[k]) }}</td><td>{{ fmt(l.synthesized[k]) if l.synthesized else "-" }}</td>{% endfor %}</tr>
{% endfor %}
<tr><th>total</th><th></th><th></th><th></th><th>II {{ r.summary.ii_cycles or "-" }}</th>
{% for k in keys %}<th>{{ fmt(r.resources.estimated[k]) if r.resources.estimated else "-" }}</th><th>{{ fmt(r.resources.synthesized[k]) if r.resources.synthesized else "-" }}</th>{% endfor %}</tr>
</table>

<h2 id="plots">Utilization and cycles</h2>
<div class="plots">
{% if util_png %}<img alt="utilization against the board" src="data:image/png;base64,{{ util_png }}">{% endif %}
{% if cycles_png %}<img alt="cycles per layer" src="data:image/png;base64,{{ cycles_png }}">{% endif %}
</div>

<h2 id="stages">Stages</h2>
<table><tr><th>stage</th><th class="l">status</th><th>seconds</th><th class="l">note</th></tr>
{% for s in r.stages %}<tr><td>{{ s.name }}</td><td class="l {{ 'ok' if s.status == 'ok' else ('bad' if s.status == 'failed' else 'na') }}">{{ s.status }}{{ "" if s.ran else " (cached)" }}</td>
<td>{{ "%.2f"|format(s.seconds or 0) }}</td><td class="l">{{ s.reason or "" }}</td></tr>
{% endfor %}</table>

<h2 id="tools">Tool versions</h2>
<table><tr><th>tool</th><th class="l">version</th></tr>
{% for k, v in r.tools.items() %}<tr><td>{{ k }}</td><td class="l">{{ v }}</td></tr>{% else %}<tr><td colspan="2" class="l na">no external tools ran</td></tr>{% endfor %}
</table>
{% if r.artefacts %}<h2 id="artefacts">Artefacts</h2><ul>{% for k, v in r.artefacts.items() %}<li>{{ k }}: <code>{{ v }}</code></li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def utilization_plot(report: dict):
    """Bars of estimated (and synthesized) use as % of the board, one group per resource."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = report["resources"]
    if not res.get("estimated"):
        return None
    keys = ["lut", "ff", "bram", "dsp"]
    avail = res["available"]
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    series = [("estimated", res["estimated"], "#6c8ebf")]
    if res.get("synthesized"):
        series.append(("synthesized", res["synthesized"], "#d79b00"))
    width = 0.8 / len(series)
    for i, (label, vals, color) in enumerate(series):
        pct = [100.0 * (vals.get(k) or 0) / avail[k] if avail.get(k) else 0.0 for k in keys]
        bars = ax.bar([j + i * width for j in range(len(keys))], pct, width, label=label, color=color)
        for b, p in zip(bars, pct):
            ax.annotate(f"{p:.1f}%", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom",
                        fontsize=7)
    ax.axhline(100, color="#b42318", lw=1, ls="--")
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(keys))],
                  [f"{k.upper()}\n/{avail[k]:,}" if avail.get(k) else k.upper() for k in keys])
    ax.set_ylabel(f"% of {report['board']['name']}")
    ax.set_title("Utilization against the board", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def cycles_plot(report: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = [row for row in report["layers"] if row.get("cycles")]
    if not layers:
        return None
    fig, ax = plt.subplots(figsize=(5.4, max(2.2, 0.32 * len(layers) + 1)))
    ii = max(row["cycles"] for row in layers)
    colors = ["#b42318" if row["cycles"] == ii else "#6c8ebf" for row in layers]
    ax.barh([row["name"] for row in layers][::-1], [row["cycles"] for row in layers][::-1], color=colors[::-1])
    ax.set_xlabel("cycles per sample (red: the bottleneck that sets II)")
    ax.set_title("Cycles per layer", fontsize=10)
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _cards(r: dict) -> list[tuple[str, str, str]]:
    s = r["summary"]

    def pct(v):
        return f"{100 * v:.2f} %" if v is not None else "n/a"

    exact = s.get("bit_exact")
    exact_txt = "n/a" if exact is None else (f"yes, 0 / {s.get('cosim_vectors')}" if exact else
                                             f"NO: {s.get('mismatches')} mismatches")
    return [
        ("model", r["model"].get("name") or "-", ""),
        ("board", r["board"]["name"], ""),
        ("backend", r.get("backend") or "-", ""),
        ("clock", f"{s['clock_mhz']:g} MHz" if s.get("clock_mhz") else "n/a", ""),
        ("Fmax (place & route)", f"{s['fmax_mhz']:.1f} MHz" if s.get("fmax_mhz") else "n/a",
         "" if s.get("fmax_mhz") else "na"),
        ("II", f"{s['ii_cycles']:,} cycles" if s.get("ii_cycles") else "n/a", ""),
        ("latency", f"{s['latency_cycles']:,} cycles" if s.get("latency_cycles") else "n/a", ""),
        ("throughput, core", f"{s['throughput_fps']:,.0f} samples/s" if s.get("throughput_fps") else "n/a", ""),
        *_link_cards(r.get("throughput")),
        ("accuracy, software", pct(s.get("accuracy_software")), ""),
        ("accuracy, golden sim", pct(s.get("accuracy_golden")), ""),
        ("accuracy, hardware sim", pct(s.get("accuracy_hw_sim")), "" if s.get("accuracy_hw_sim") is not None else "na"),
        ("bit-exact vs golden", exact_txt, "na" if exact is None else ("ok" if exact else "bad")),
    ]


def _link_cards(t) -> list[tuple[str, str, str]]:
    """The link's samples/s beside the core's, with its bytes per sample, and the effective rate."""
    if not t or not t.get("link"):
        return []
    link = t["link"]
    where = f"{link['top']}" + (f", {link['baud']:,} baud" if link.get("baud") else "")
    fps = f"{link['fps']:,.0f} samples/s" if link.get("fps") is not None else "n/a"
    cards = [(f"throughput, link ({where}; {link['bytes_in']} B in / {link['bytes_out']} B out)", fps,
              "bad" if t.get("bound") == "link" else "")]
    if t.get("effective_fps") is not None:
        cards.append((f"throughput, effective ({t.get('bound') or '?'}-bound)", f"{t['effective_fps']:,.0f} samples/s", ""))
    return cards


def render_html(report: dict) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined)
    template = env.from_string(TEMPLATE)
    return template.render(r=report, cards=_cards(report), keys=["lut", "ff", "bram", "dsp"], fmt=_fmt,
                           util_png=utilization_plot(report), cycles_png=cycles_plot(report))
