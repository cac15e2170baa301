/** A self-contained HTML training report: inline SVG loss/accuracy charts, summary lines, a confusion heat map. */
import { ShapeError, ValueError, describe } from '../errors.js';

export interface EpochRecord {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
}

export interface ReportSummary {
  title: string;
  lines: string[];
  /** counts[true][predicted], as `confusionMatrix` returns. */
  confusion?: number[][];
  classNames?: string[];
}

interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

const TRAIN_COLOR = '#1f77b4';
const VALIDATION_COLOR = '#ff7f0e';
const CHART = { width: 560, height: 280, left: 60, right: 150, top: 30, bottom: 42 };

export function escapeHtml(text: string): string {
  const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  return text.replace(/[&<>"']/g, (c) => entities[c]);
}

/** Round tick values (multiples of 1, 2 or 5 × 10^k) inside [min, max], about `count` of them, with their labels. */
function niceTicks(min: number, max: number, count: number): { value: number; label: string }[] {
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough)!;
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  const ticks = [];
  for (let k = Math.ceil(min / step); k * step <= max; k++) ticks.push({ value: k * step, label: (k * step).toFixed(decimals) });
  return ticks;
}

const coordinate = (value: number) => value.toFixed(1);

/** [min, max] of the values, widened when flat so the line sits mid-chart. */
function domain(values: number[]): [number, number] {
  const min = Math.min(...values);
  const max = Math.max(...values);
  if (min === max) {
    const half = Math.abs(min) * 0.1 || 1;
    return [min - half, max + half];
  }
  const margin = (max - min) * 0.05;
  return [min - margin, max + margin];
}

function lineChart(title: string, series: Series[]): string {
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const epochs = [...new Set(series.flatMap((s) => s.points.map(([epoch]) => epoch)))].sort((a, b) => a - b);
  const [xMin, xMax] = epochs.length === 1 ? [epochs[0] - 1, epochs[0] + 1] : [epochs[0], epochs.at(-1)!];
  const [yMin, yMax] = domain(series.flatMap((s) => s.points.map(([, value]) => value)));
  const x = (epoch: number) => left + ((epoch - xMin) / (xMax - xMin)) * plotWidth;
  const y = (value: number) => top + (1 - (value - yMin) / (yMax - yMin)) * plotHeight;

  const yTicks = niceTicks(yMin, yMax, 5);
  const xTicks = epochs.filter((_, i) => i % Math.ceil(epochs.length / 10) === 0);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="${left}" y="18" class="chart-title">${escapeHtml(title)}</text>`,
    `<rect x="${left}" y="${top}" width="${plotWidth}" height="${plotHeight}" class="plot"/>`,
    ...yTicks.map(
      ({ value, label }) =>
        `<line x1="${left}" x2="${left + plotWidth}" y1="${coordinate(y(value))}" y2="${coordinate(y(value))}" class="grid"/>` +
        `<text x="${left - 6}" y="${coordinate(y(value) + 4)}" text-anchor="end">${label}</text>`,
    ),
    ...xTicks.map((e) => `<text x="${coordinate(x(e))}" y="${top + plotHeight + 16}" text-anchor="middle">${e}</text>`),
    `<text x="${left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">epoch</text>`,
  ];
  series.forEach((s, i) => {
    const points = s.points.map(([e, v]) => `${coordinate(x(e))},${coordinate(y(v))}`).join(' ');
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2" data-series="${escapeHtml(s.name)}"/>`,
      ...s.points.map(
        ([e, v]) =>
          `<circle cx="${coordinate(x(e))}" cy="${coordinate(y(v))}" r="2.5" fill="${s.color}"><title>${escapeHtml(s.name)}, epoch ${e}: ${v.toFixed(4)}</title></circle>`,
      ),
      `<line x1="${width - right + 14}" x2="${width - right + 34}" y1="${top + 10 + i * 18}" y2="${top + 10 + i * 18}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${width - right + 40}" y="${top + 14 + i * 18}">${escapeHtml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The series of `key` that has at least one value, as [epoch, value] points. */
function seriesOf(history: EpochRecord[], key: keyof EpochRecord, name: string, color: string): Series[] {
  const points = history.filter((h) => h[key] !== undefined).map((h): [number, number] => [h.epoch, h[key]!]);
  return points.length > 0 ? [{ name, color, points }] : [];
}

function confusionTable(confusion: number[][], classNames: string[]): string {
  const header = classNames.map((name) => `<th scope="col">${escapeHtml(name)}</th>`).join('');
  const rows = confusion.map((row, t) => {
    const rowTotal = row.reduce((a, b) => a + b, 0);
    const cells = row.map((count, p) => {
      const share = rowTotal === 0 ? 0 : count / rowTotal;
      const style = `background:rgba(31,119,180,${share.toFixed(3)});color:${share > 0.5 ? '#fff' : '#000'}`;
      const tip = `${escapeHtml(classNames[t])} → ${escapeHtml(classNames[p])}: ${(share * 100).toFixed(1)}% of the row`;
      return `<td style="${style}" title="${tip}"${t === p ? ' class="diagonal"' : ''}>${count}</td>`;
    });
    return `<tr><th scope="row">${escapeHtml(classNames[t])}</th>${cells.join('')}</tr>`;
  });
  return [
    '<table class="confusion">',
    `<caption>Confusion matrix (rows: true class, columns: predicted; shade: share of the row)</caption>`,
    `<tr><th></th>${header}</tr>`,
    ...rows,
    '</table>',
  ].join('\n');
}

function checkHistory(op: string, history: unknown): asserts history is EpochRecord[] {
  if (!Array.isArray(history)) {
    throw new ValueError(`${op}: history must be an array of epoch records (empty for an evaluation without training), got ${describe(history)}`);
  }
  history.forEach((record: EpochRecord, i) => {
    for (const key of ['epoch', 'loss', 'accuracy', 'valLoss', 'valAccuracy'] as const) {
      const value = record?.[key];
      const optional = key !== 'epoch' && key !== 'loss';
      if ((optional && value === undefined) || Number.isFinite(value)) continue;
      throw new ValueError(`${op}: history[${i}].${key} must be a finite number${optional ? ' or absent' : ''}, got ${describe(value)}`);
    }
    if (i > 0 && record.epoch <= history[i - 1].epoch) {
      throw new ValueError(`${op}: history epochs must increase, got ${history[i - 1].epoch} then ${record.epoch} at index ${i}`);
    }
  });
}

function checkConfusion(op: string, confusion: unknown, classNames: unknown): string[] {
  const rows = Array.isArray(confusion) ? confusion.length : 0;
  if (rows === 0 || !(confusion as unknown[]).every((row) => Array.isArray(row) && row.length === rows)) {
    throw new ShapeError(`${op}: summary.confusion must be a non-empty square array of arrays, got ${describe(confusion)}`);
  }
  for (const row of confusion as unknown[][]) {
    const bad = row.find((count) => !Number.isInteger(count) || (count as number) < 0);
    if (bad !== undefined) throw new ValueError(`${op}: summary.confusion must hold non-negative integer counts, got ${describe(bad)}`);
  }
  if (classNames === undefined) return Array.from({ length: rows }, (_, i) => String(i));
  if (!Array.isArray(classNames) || classNames.length !== rows || !classNames.every((n) => typeof n === 'string')) {
    throw new ShapeError(`${op}: summary.classNames must be ${rows} strings to match the confusion matrix, got ${describe(classNames)}`);
  }
  return classNames;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; }
svg { margin: 8px 16px 8px 0; font-size: 11px; }
svg .chart-title { font-size: 13px; font-weight: 600; }
svg .plot { fill: #fafafa; stroke: #bbb; }
svg .grid { stroke: #e4e4e4; }
table { border-collapse: collapse; margin: 12px 0; }
td, th { padding: 3px 8px; border: 1px solid #ddd; }
table.confusion td { text-align: right; min-width: 36px; }
table.confusion td.diagonal { outline: 2px solid #333; outline-offset: -2px; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }`;

/**
 * One HTML page with no external assets: loss and accuracy (train and validation, where given) as inline SVG
 * line charts, the summary lines as a table, and the confusion matrix as a heat-map table.
 */
export function trainingReportHtml(history: EpochRecord[], summary: ReportSummary): string {
  const op = 'trainingReportHtml()';
  checkHistory(op, history);
  if (typeof summary?.title !== 'string') throw new ValueError(`${op}: summary.title must be a string, got ${describe(summary?.title)}`);
  if (!Array.isArray(summary.lines) || !summary.lines.every((line) => typeof line === 'string')) {
    throw new ValueError(`${op}: summary.lines must be an array of strings, got ${describe(summary.lines)}`);
  }
  const lossSeries = [
    ...seriesOf(history, 'loss', 'train loss', TRAIN_COLOR),
    ...seriesOf(history, 'valLoss', 'validation loss', VALIDATION_COLOR),
  ];
  const accuracySeries = [
    ...seriesOf(history, 'accuracy', 'train accuracy', TRAIN_COLOR),
    ...seriesOf(history, 'valAccuracy', 'validation accuracy', VALIDATION_COLOR),
  ];
  const charts = history.length === 0 ? [] : [lineChart('Loss', lossSeries), ...(accuracySeries.length > 0 ? [lineChart('Accuracy', accuracySeries)] : [])];
  const summaryTable =
    summary.lines.length === 0
      ? ''
      : ['<table class="summary">', ...summary.lines.map((line) => `<tr><td>${escapeHtml(line)}</td></tr>`), '</table>'].join('\n');
  const confusion =
    summary.confusion === undefined ? '' : confusionTable(summary.confusion, checkConfusion(op, summary.confusion, summary.classNames));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(summary.title)}</title>
<style>${STYLE}
</style>
</head>
<body>
<h1>${escapeHtml(summary.title)}</h1>
<div class="charts">
${charts.join('\n')}
</div>
${summaryTable}
${confusion}
</body>
</html>
`;
}
