"""The report as one self-contained HTML page, with its charts drawn here as inline SVG.

One file, because the report is mailed and archived: no stylesheet, font,
script or image is fetched from anywhere (a mail client would block it, an
archive would lose it), and nothing needs JavaScript. The three charts
are drawn as inline SVG by ``report.charts``.

All text from the report (customer names, client-written subjects) is
escaped: Jinja2 autoescapes the page, and the SVG builders escape each text
they place. The template lives in this module, not in a file beside it,
because the package ships Python files only.
"""

from __future__ import annotations

from jinja2 import Environment
from markupsafe import Markup

from mailflow.report.charts import intake_chart, plan_chart, type_chart
from mailflow.report.model import DURATION_SECTIONS, UNKNOWN_CUSTOMER, Report
from mailflow.report.render import HEADINGS, label

SHOWN = 6  # ids and customer names per common need on the page; JSON and CSV list them all
FONT = ('-apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
        '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Liberation Sans", "DejaVu Sans", sans-serif')

def render_html(report: Report) -> str:
    """The whole page; safe to open from disk or attach to a mail."""
    return _TEMPLATE.render(
        r=report,
        font=Markup(FONT),  # our constant; escaping would break the CSS
        headings=HEADINGS,
        durations=[(HEADINGS[key], getattr(report, attr)) for key, attr in DURATION_SECTIONS],
        counts=[(HEADINGS[key], [(label(key, k), n) for k, n in getattr(report, key)])
                for key in ("by_status", "by_stage", "by_tier", "by_priority")],
        customers=sum(1 for key, _ in report.by_customer if key != UNKNOWN_CUSTOMER),
        pct=_pct,
        num=_num,
        chart_types=type_chart(report),
        chart_intake=intake_chart(report),
        chart_plan=plan_chart(report),
        SHOWN=SHOWN,
    )


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>需求月报 / Monthly requirements report — {{ r.month }}</title>
<style>
  * { box-sizing: border-box; }
  body { margin: 0; padding: 32px 40px 48px; background: #f8fafc; color: #1f2937;
         font: 14px/1.5 {{ font }}; }
  main { max-width: 1120px; margin: 0 auto; }
  h1 { font-size: 24px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 0 0 12px; }
  h3 { font-size: 14px; margin: 0 0 8px; color: #374151; }
  .period { color: #6b7280; margin: 0 0 24px; }
  section { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 20px 24px;
            margin: 0 0 20px; }
  .kpis { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin: 0 0 20px; }
  .kpi { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 14px 16px; }
  .kpi .label { color: #6b7280; font-size: 12px; }
  .kpi .value { font-size: 26px; font-weight: 650; margin-top: 2px; }
  .kpi .sub { color: #6b7280; font-size: 12px; }
  .two { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 24px; align-items: start; }
  .grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 16px 24px; }
  .spaced { margin-top: 24px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
  th { color: #6b7280; font-weight: 600; font-size: 12px; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.ids { color: #6b7280; font-size: 12px; max-width: 240px; }
  td.samples { min-width: 280px; }
  .chart { display: block; width: 100%; height: auto; }
  .bar { background: #e5e7eb; border-radius: 3px; height: 8px; width: 90px; display: inline-block;
         vertical-align: middle; margin-right: 6px; }
  .bar span { display: block; height: 8px; background: #2563eb; border-radius: 3px; }
  .muted, footer { color: #6b7280; font-size: 12px; }
  @media (max-width: 900px) { .kpis { grid-template-columns: repeat(2, 1fr); } .two { grid-template-columns: 1fr; } }
  @media print { body { background: #fff; padding: 0; } section, .kpi { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<h1>需求月报 / Monthly requirements report — {{ r.month }}</h1>
<p class="period">期间 / Period: {{ r.start.isoformat() }} – {{ r.end.isoformat() }} ({{ r.timezone }}) ·
  提交人已脱敏 / submitters masked</p>

<div class="kpis">
  <div class="kpi"><div class="label">需求总数 / Requirements</div><div class="value">{{ r.total }}</div>
    <div class="sub">{{ customers }} 客户 / customers</div></div>
  <div class="kpi"><div class="label">超时率 / SLA breached</div><div class="value">{{ pct(r.sla.rate) }}</div>
    <div class="sub">{{ r.sla.breached }} / {{ r.sla.total }}</div></div>
  <div class="kpi"><div class="label">验证通过率 / Verification passed</div>
    <div class="value">{{ pct(r.verification.rate) }}</div>
    <div class="sub">{{ r.verification.passed }} / {{ r.verification.passed + r.verification.failed }}</div></div>
  <div class="kpi"><div class="label">满意 / Satisfied</div><div class="value">{{ pct(r.satisfaction.share_satisfied) }}</div>
    <div class="sub">{{ r.satisfaction.satisfied }} / {{ r.satisfaction.answered }}</div></div>
  <div class="kpi"><div class="label">计划用时中位数 / Median to plan</div>
    <div class="value">{{ num(r.plan.median) }}{% if r.plan.median is not none %}<small> h</small>{% endif %}</div>
    <div class="sub">工作小时 / working hours</div></div>
</div>

<section>
  <h2>分布 / Distribution</h2>
  <div class="two">
    <div>
      <h3>{{ headings.by_type }}</h3>
      {{ chart_types }}
      <h3 class="spaced">{{ headings.by_customer }}</h3>
      <table>
      {% for key, count in r.by_customer %}<tr><td>{{ key }}</td><td class="n">{{ count }}</td></tr>
      {% else %}<tr><td class="muted">无数据 / no data</td></tr>{% endfor %}
      </table>
    </div>
    <div class="grid">
    {% for title, rows in counts %}
      <div>
        <h3>{{ title }}</h3>
        <table>
        {% for key, count in rows %}<tr><td>{{ key }}</td><td class="n">{{ count }}</td></tr>
        {% else %}<tr><td class="muted">无数据 / no data</td></tr>{% endfor %}
        </table>
      </div>
    {% endfor %}
    </div>
  </div>
</section>

<section>
  <h2>处理时长 / Time taken</h2>
  <div class="two">
    <div>
      <table>
        <tr><th></th><th class="n">n</th><th class="n">中位数 / median</th><th class="n">P90</th></tr>
        {% for title, d in durations %}
        <tr><td>{{ title }}</td><td class="n">{{ d.n }}</td><td class="n">{{ num(d.median) }}</td>
            <td class="n">{{ num(d.p90) }}</td></tr>
        {% endfor %}
      </table>
      <p class="muted">工作小时；中位数与 P90 按最近秩法（排序后第 ⌈p/100·n⌉ 个值）。<br>
        Working hours; median and P90 by nearest rank (the value at rank ⌈p/100·n⌉).</p>
      <table>
        <tr><th>服务水平与质量 / SLA and quality</th><th class="n"></th><th class="n"></th></tr>
        <tr><td>超时需求 / SLA breached</td><td class="n">{{ r.sla.breached }} / {{ r.sla.total }}</td>
            <td class="n">{{ pct(r.sla.rate) }}</td></tr>
        <tr><td>超时次数 / Deadlines missed</td><td class="n">{{ r.sla.deadlines_missed }}</td><td></td></tr>
        <tr><td>验证通过 / Verification passed</td>
            <td class="n">{{ r.verification.passed }} / {{ r.verification.passed + r.verification.failed }}</td>
            <td class="n">{{ pct(r.verification.rate) }}</td></tr>
        <tr><td>满意 / 一般 / 不满意 — Satisfied / neutral / unsatisfied</td>
            <td class="n">{{ r.satisfaction.satisfied }} / {{ r.satisfaction.neutral }} / {{ r.satisfaction.unsatisfied }}</td>
            <td class="n">{{ pct(r.satisfaction.share_satisfied) }}</td></tr>
      </table>
    </div>
    <div>
      <h3>给出计划用时分布 / Time to plan</h3>
      {{ chart_plan }}
    </div>
  </div>
</section>

<section>
  <h2>每周新增 / Weekly intake</h2>
  {{ chart_intake }}
</section>

<section>
  <h2>共性需求 / Common needs</h2>
  {% if r.common_needs %}
  <table>
    <tr><th>需求 / need</th><th class="n">客户 / customers</th><th class="n">占比 / share</th><th class="n">需求数 / reqs</th>
        <th>示例 / samples</th><th>编号 / ids</th></tr>
    {% for g in r.common_needs %}
    <tr><td><strong>{{ g.label }}</strong><div class="muted">{{ g.customer_names[:SHOWN] | join(", ") }}
          {%- if g.customer_names | length > SHOWN %} … (+{{ g.customer_names | length - SHOWN }}){% endif %}</div></td>
        <td class="n">{{ g.customers }}</td>
        <td class="n"><span class="bar"><span style="width: {{ ((g.share or 0) * 100) | round(1) }}%"></span></span>{{ pct(g.share) }}</td>
        <td class="n">{{ g.requirements }}</td>
        <td class="samples">{% for lang, subject in g.samples %}<div>{{ lang }}: “{{ subject }}”</div>{% endfor %}</td>
        <td class="ids">{{ g.ids[:SHOWN] | join(", ") }}
          {%- if g.ids | length > SHOWN %} … (+{{ g.ids | length - SHOWN }}){% endif %}</td></tr>
    {% endfor %}
  </table>
  <p class="muted">多个客户提出的相似需求（中英文合并）；占比 = 提出的客户 / 本月来信的客户。
    Similar requests from several customers (Chinese and English together); share = customers asking / customers who wrote.</p>
  {% else %}
  <p class="muted">无数据 / no data</p>
  {% endif %}
</section>

<section>
  <div class="two">
    <div>
      <h2>主要客户 / Top customers</h2>
      <table>
        <tr><th>客户 / customer</th><th class="n">需求 / reqs</th><th class="n">提交人 / submitters</th>
            <th class="n">超时 / breached</th></tr>
        {% for c in r.top_customers %}
        <tr><td>{{ c.name }}</td><td class="n">{{ c.requirements }}</td><td class="n">{{ c.submitters }}</td>
            <td class="n">{{ c.breached }}</td></tr>
        {% else %}<tr><td class="muted" colspan="4">无数据 / no data</td></tr>{% endfor %}
      </table>
    </div>
    <div>
      <h2>主要提交人 / Top submitters</h2>
      <table>
        <tr><th>姓名 / name</th><th>邮箱 / email</th><th>客户 / customer</th><th class="n">需求 / reqs</th></tr>
        {% for s in r.top_submitters %}
        <tr><td>{{ s.name }}</td><td>{{ s.email }}</td><td>{{ s.customer }}</td><td class="n">{{ s.requirements }}</td></tr>
        {% else %}<tr><td class="muted" colspan="4">无数据 / no data</td></tr>{% endfor %}
      </table>
    </div>
  </div>
</section>

<footer>mailflow · {{ r.month }} · 姓名与邮箱已脱敏 / names and addresses masked</footer>
</main>
</body>
</html>
"""

_TEMPLATE = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(_PAGE)
