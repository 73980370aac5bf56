/**
 * A dependency-free SVG line chart of per-second rates with a labelled y axis (0, half,
 * a round maximum), time labels and one line per series. Text goes in via textContent.
 */

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 150;
const LEFT = 40;
const RIGHT = 8;
const TOP = 8;
const BOTTOM = 20;

export interface ChartSeries {
  label: string;
  /** Counts per second, oldest first, the last entry being the current (incomplete) second. */
  values: number[];
  className: string;
}

/** The smallest of 1, 2, 5 × 10^k at or above `value` (at least 1), so the axis reads well. */
export function roundMaximum(value: number): number {
  let scale = 1;
  for (;;) {
    for (const step of [1, 2, 5]) if (step * scale >= value) return step * scale;
    scale *= 10;
  }
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatSeconds(seconds: number): string {
  return seconds === 0 ? 'now' : seconds % 60 === 0 ? `−${seconds / 60} min` : `−${seconds} s`;
}

export function rateChart(series: ChartSeries[], description: string): SVGSVGElement {
  const length = Math.max(2, ...series.map((line) => line.values.length));
  const top = roundMaximum(Math.max(0, ...series.flatMap((line) => line.values)));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (index: number) => LEFT + (index / (length - 1)) * plotWidth;
  const y = (value: number) => TOP + plotHeight - (value / top) * plotHeight;

  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', role: 'img', 'aria-label': description });
  for (const tick of [0, top / 2, top]) {
    chart.append(
      svg('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y(tick), y2: y(tick), class: 'grid' }),
      svg('text', { x: LEFT - 6, y: y(tick) + 4, 'text-anchor': 'end', class: 'axis' }, Number.isInteger(tick) ? String(tick) : tick.toFixed(1)),
    );
  }
  // Time ticks at the window's start, middle and end, labelled in seconds (or minutes) ago.
  for (const ago of [length, Math.round(length / 2), 0]) {
    const anchor = ago === length ? 'start' : ago === 0 ? 'end' : 'middle';
    chart.append(svg('text', { x: x(Math.max(0, length - 1 - ago)), y: HEIGHT - 4, 'text-anchor': anchor, class: 'axis' }, formatSeconds(ago)));
  }
  for (const line of series) {
    const points = line.values.map((value, index) => `${x(index + length - line.values.length).toFixed(1)},${y(value).toFixed(1)}`).join(' ');
    chart.append(svg('polyline', { points, class: `series ${line.className}`, 'data-series': line.label }));
  }
  return chart;
}
