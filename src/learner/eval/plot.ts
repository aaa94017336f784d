import { scaleLinear, scaleLog, scalePoint } from 'd3-scale';
import { line } from 'd3-shape';
import { type EvalReport, METHOD_LABELS } from './report.js';

/** One line of a panel: points with an optional symmetric error bar. */
interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly { x: number; y: number; error?: number }[];
}

interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  /** `point`: x values are categories spaced evenly (adaptation steps K). */
  readonly xKind: 'linear' | 'point';
  /** `log` for MSE, whose baselines can be orders of magnitude above allmap's. */
  readonly yKind: 'linear' | 'log';
  readonly series: readonly Series[];
}

const COLORS: Record<string, string> = {
  random: '#8c8c8c',
  shared: '#1f77b4',
  fomaml: '#ff7f0e',
  allmap: '#d62728',
};
const PANEL = { width: 460, height: 320, margin: { top: 36, right: 16, bottom: 48, left: 60 } };

/** The report as an SVG figure: the meta-test by K, and the curve or the forgetting. */
export function toSvg(report: EvalReport): string {
  const panels = [
    metaTestPanel(report),
    report.forgetting ? forgettingPanel(report) : curvePanel(report),
  ];
  const width = PANEL.width * panels.length;
  const height = PANEL.height + 40;
  const body = panels.map((panel, i) => drawPanel(panel, i * PANEL.width, 0)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    // A title gives screen readers and file browsers a name for the figure.
    `<title>allmap eval: ${report.workload} (${report.family})</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    body,
    legend(report, PANEL.height + 14),
    '</svg>',
    '',
  ].join('\n');
}

function metaTestPanel(report: EvalReport): Panel {
  const result = report.metaTest[0]!;
  return {
    title: `${report.workload}: meta-test, ${result.setting.split(',')[0]}`,
    xLabel: 'adaptation steps K',
    yLabel: report.metric === 'mse' ? 'query MSE' : 'query accuracy (%)',
    xKind: 'point',
    yKind: yKindOf(report),
    series: Object.entries(result.methods).map(([method, scores]) => ({
      name: method,
      color: COLORS[method] ?? 'black',
      points: report.steps.map((K) => ({
        x: K,
        y: scores[String(K)]?.mean ?? Number.NaN,
        error: scores[String(K)]?.halfWidth ?? 0,
      })),
    })),
  };
}

function curvePanel(report: EvalReport): Panel {
  const setting = Object.keys(report.learningCurve[0]?.scores ?? {})[0] ?? '';
  const methods = Object.keys(report.learningCurve[0]?.scores[setting] ?? {});
  const series = methods.flatMap((method) =>
    ['10', '1'].map((K) => ({
      name: `${method} K=${K}`,
      color: COLORS[method] ?? 'black',
      dashed: K === '1',
      points: report.learningCurve.map((point) => ({
        x: point.episodes,
        y: point.scores[setting]?.[method]?.[K] ?? Number.NaN,
      })),
    })),
  );
  return {
    title: `learning curve, ${setting} (solid K=10, dashed K=1)`,
    xLabel: 'meta-training episodes seen',
    yLabel: report.metric === 'mse' ? 'query MSE' : 'query accuracy (%)',
    xKind: 'linear',
    yKind: yKindOf(report),
    series,
  };
}

function forgettingPanel(report: EvalReport): Panel {
  const result = report.forgetting!;
  const last = result.tasks.length - 1;
  const series = Object.entries(result.accuracy).flatMap(([method, matrix]) => [
    {
      name: `${method} after learning`,
      color: COLORS[method] ?? 'black',
      points: result.tasks.map((_, j) => ({ x: j, y: matrix[j]?.[j] ?? Number.NaN })),
    },
    {
      name: `${method} at the end`,
      color: COLORS[method] ?? 'black',
      dashed: true,
      points: result.tasks.map((_, j) => ({ x: j, y: matrix[last]?.[j] ?? Number.NaN })),
    },
  ]);
  return {
    title: 'per task: just learned (solid), at the end (dashed)',
    xLabel: 'task in the sequence',
    yLabel: `accuracy after K=${result.steps} (%)`,
    xKind: 'point',
    yKind: 'linear',
    series,
  };
}

function drawPanel(panel: Panel, left: number, top: number): string {
  const { width, height, margin } = PANEL;
  const innerWidth = width - margin.left - margin.right;
  const innerHeight = height - margin.top - margin.bottom;
  const points = panel.series
    .flatMap((series) => series.points)
    .filter((p) => Number.isFinite(p.y));
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const lows = points.map((p) => p.y - (p.error ?? 0));
  const highs = points.map((p) => p.y + (p.error ?? 0));

  const x =
    panel.xKind === 'point'
      ? pointScale(xs, innerWidth)
      : scaleLinear()
          .domain([0, Math.max(...xs)])
          .range([0, innerWidth])
          .nice();
  const y = yScale(panel.yKind, lows, highs, innerHeight);

  const lines = panel.series.map((series) => {
    const finite = series.points.filter((p) => Number.isFinite(p.y));
    const path = line<{ x: number; y: number }>()
      .x((p) => x(p.x))
      .y((p) => y(p.y))(finite);
    const bars = finite
      .filter((p) => (p.error ?? 0) > 0)
      .map(
        (p) =>
          `<line x1="${x(p.x)}" x2="${x(p.x)}" y1="${y(p.y - p.error!)}" y2="${y(p.y + p.error!)}" stroke="${series.color}"/>`,
      );
    const dots = finite.map(
      (p) => `<circle cx="${x(p.x)}" cy="${y(p.y)}" r="2.5" fill="${series.color}"/>`,
    );
    const dash = series.dashed ? ' stroke-dasharray="5,3"' : '';
    return [
      `<path d="${path}" fill="none" stroke="${series.color}" stroke-width="1.6"${dash}/>`,
      ...bars,
      ...dots,
    ].join('');
  });

  return [
    `<g transform="translate(${left + margin.left},${top + margin.top})">`,
    `<text x="${innerWidth / 2}" y="-16" text-anchor="middle" font-size="12" font-weight="bold">${escapeXml(panel.title)}</text>`,
    axisX(x, xs, panel.xKind, innerWidth, innerHeight),
    axisY(y, innerWidth, innerHeight),
    `<text x="${innerWidth / 2}" y="${innerHeight + 36}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`,
    `<text transform="translate(-44,${innerHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`,
    ...lines,
    '</g>',
  ].join('\n');
}

/** Categories as a function of their value: evenly spaced, whatever the gaps between values. */
function pointScale(values: readonly number[], width: number): (value: number) => number {
  const scale = scalePoint<string>().domain(values.map(String)).range([0, width]).padding(0.3);
  return (value) => scale(String(value)) ?? 0;
}

function axisX(
  x: (value: number) => number,
  xs: readonly number[],
  kind: Panel['xKind'],
  width: number,
  height: number,
): string {
  const ticks =
    kind === 'point'
      ? xs
      : scaleLinear()
          .domain([0, Math.max(...xs)])
          .nice()
          .ticks(6);
  const marks = ticks.map(
    (tick) =>
      `<line x1="${x(tick)}" x2="${x(tick)}" y1="${height}" y2="${height + 4}" stroke="black"/>` +
      `<text x="${x(tick)}" y="${height + 16}" text-anchor="middle">${tick}</text>`,
  );
  return [
    `<line x1="0" x2="${width}" y1="${height}" y2="${height}" stroke="black"/>`,
    ...marks,
  ].join('');
}

type YScale =
  | ReturnType<typeof scaleLinear<number, number>>
  | ReturnType<typeof scaleLog<number, number>>;

/** Log for MSE (clamped above zero); linear over the data's own range for accuracy. */
function yScale(kind: Panel['yKind'], lows: number[], highs: number[], height: number): YScale {
  const high = Math.max(...highs);
  if (kind === 'log') {
    const low = Math.min(...lows.filter((value) => value > 0), high);
    return scaleLog()
      .domain([low * 0.8, high * 1.25])
      .range([height, 0])
      .clamp(true);
  }
  return scaleLinear()
    .domain([Math.min(...lows), high])
    .range([height, 0])
    .nice();
}

/** A log axis offers ticks at every digit: keep 1, 2, 5 per decade, or 1 over many decades. */
function readableTicks(y: YScale): number[] {
  const ticks = y.ticks(6);
  if (!('base' in y)) return ticks;
  const leading = (tick: number) => Math.round(tick / 10 ** Math.floor(Math.log10(tick)));
  const some = ticks.filter((tick) => [1, 2, 5].includes(leading(tick)));
  return some.length > 10 ? some.filter((tick) => leading(tick) === 1) : some;
}

function yKindOf(report: EvalReport): Panel['yKind'] {
  return report.metric === 'mse' ? 'log' : 'linear';
}

function axisY(y: YScale, width: number, height: number): string {
  const marks = readableTicks(y).map(
    (tick) =>
      `<line x1="0" x2="${width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>` +
      `<text x="-6" y="${y(tick) + 4}" text-anchor="end">${formatTick(tick)}</text>`,
  );
  return [...marks, `<line x1="0" x2="0" y1="0" y2="${height}" stroke="black"/>`].join('');
}

function formatTick(value: number): string {
  return Math.abs(value) >= 1 || value === 0
    ? String(Number(value.toFixed(1)))
    : String(Number(value.toPrecision(2)));
}

function legend(report: EvalReport, top: number): string {
  const methods = Object.keys(report.metaTest[0]?.methods ?? {});
  const items = methods.map((method, i) => {
    const left = 60 + i * 200;
    return (
      `<line x1="${left}" x2="${left + 22}" y1="${top}" y2="${top}" stroke="${COLORS[method] ?? 'black'}" stroke-width="2"/>` +
      `<text x="${left + 28}" y="${top + 4}">${escapeXml(METHOD_LABELS[method] ?? method)}</text>`
    );
  });
  return items.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
