import { describe, expect, it } from 'vitest';
import { ShapeError, ValueError } from '../ts/errors.js';
import { escapeHtml, trainingReportHtml, type EpochRecord } from '../ts/train/report.js';

const history: EpochRecord[] = [
  { epoch: 1, loss: 2, accuracy: 0.3, valLoss: 2.2, valAccuracy: 0.28 },
  { epoch: 2, loss: 1.5, accuracy: 0.5, valLoss: 1.8, valAccuracy: 0.45 },
  { epoch: 3, loss: 1, accuracy: 0.7, valLoss: 1.6, valAccuracy: 0.6 },
];

const count = (text: string, part: string) => text.split(part).length - 1;
const polylines = (html: string) => [...html.matchAll(/<polyline points="([^"]*)"[^>]*data-series="([^"]*)"/g)].map((m) => ({ series: m[2], points: m[1].split(' ') }));

describe('trainingReportHtml', () => {
  const html = trainingReportHtml(history, {
    title: 'CIFAR-10 <small> CNN',
    lines: ['test accuracy: 0.6000', 'a < b && c'],
    confusion: [
      [3, 1],
      [0, 4],
    ],
    classNames: ['<cat>', 'dog & "co"'],
  });

  it('is one self-contained page with balanced tags and no external assets', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    for (const tag of ['svg', 'table', 'html', 'body', 'head', 'style']) expect(count(html, `<${tag}`)).toBe(count(html, `</${tag}>`));
    expect(count(html, '<svg')).toBe(2);
    expect(html).not.toMatch(/(src|href)=|@import|url\(/);
  });

  it('draws one polyline per series with one point per epoch, at hand-computed positions', () => {
    const lines = polylines(html);
    expect(lines.map((l) => l.series)).toEqual(['train loss', 'validation loss', 'train accuracy', 'validation accuracy']);
    for (const line of lines) expect(line.points).toHaveLength(history.length);
    // Plot x ∈ [60, 410] over epochs 1…3; y ∈ [30, 238] over losses [1, 2.2] widened by 5% to [0.94, 2.26].
    expect(lines[0].points).toEqual(['60.0,71.0', '235.0,149.8', '410.0,228.5']);
    expect(lines[1].points[0]).toBe('60.0,39.5');
  });

  it('escapes HTML in the title, summary lines and class names', () => {
    expect(html).toContain('<title>CIFAR-10 &lt;small&gt; CNN</title>');
    expect(html).toContain('<td>a &lt; b &amp;&amp; c</td>');
    expect(html).toContain('<th scope="row">&lt;cat&gt;</th>');
    expect(html).toContain('dog &amp; &quot;co&quot;');
    expect(html).not.toContain('<cat>');
    expect(html).not.toContain('<small>');
    expect(escapeHtml(`<a href='x'>&</a>`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;');
  });

  it('shades confusion cells by their share of the row', () => {
    expect(html).toMatch(/background:rgba\(31,119,180,0\.750\)[^>]*>3<\/td>/);
    expect(html).toMatch(/background:rgba\(31,119,180,0\.250\)[^>]*>1<\/td>/);
    expect(html).toMatch(/background:rgba\(31,119,180,0\.000\)[^>]*>0<\/td>/);
    expect(html).toMatch(/background:rgba\(31,119,180,1\.000\);color:#fff[^>]*>4<\/td>/);
  });

  it('labels the loss axis with round ticks inside the plotted range', () => {
    // Losses span [0.94, 2.26]: rough step 0.264 → 0.5, so ticks 1.0, 1.5, 2.0.
    const lossChart = html.slice(html.indexOf('<svg'), html.indexOf('</svg>'));
    expect([...lossChart.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1])).toEqual(['1.0', '1.5', '2.0']);
  });

  it('has only a loss chart without accuracy, skips absent validation points, centres a single epoch', () => {
    const lossOnly = trainingReportHtml([{ epoch: 1, loss: 1 }, { epoch: 2, loss: 0.5, valLoss: 0.7 }], { title: 't', lines: [] });
    expect(count(lossOnly, '<svg')).toBe(1);
    expect(polylines(lossOnly).map((l) => l.points.length)).toEqual([2, 1]);
    expect(lossOnly).not.toContain('<table');
    const single = polylines(trainingReportHtml([{ epoch: 5, loss: 1 }], { title: 't', lines: [] }));
    expect(single[0].points).toEqual(['235.0,134.0']); // middle of [60, 410] × [30, 238]
  });

  it('rejects empty or non-finite history, decreasing epochs and a mismatched confusion matrix', () => {
    const summary = { title: 't', lines: [] };
    expect(trainingReportHtml([], summary)).not.toContain('<svg'); // an evaluation alone: no charts
    expect(() => trainingReportHtml('x' as never, summary)).toThrow(ValueError);
    expect(() => trainingReportHtml([{ epoch: 1, loss: NaN }], summary)).toThrow('history[0].loss must be a finite number, got number NaN');
    expect(() => trainingReportHtml([{ epoch: 1, loss: 1, valAccuracy: Infinity }], summary)).toThrow('history[0].valAccuracy must be a finite number or absent');
    expect(() => trainingReportHtml([{ epoch: 2, loss: 1 }, { epoch: 2, loss: 1 }], summary)).toThrow('history epochs must increase, got 2 then 2 at index 1');
    expect(() => trainingReportHtml(history, { ...summary, confusion: [[1, 2]] })).toThrow(ShapeError);
    expect(() => trainingReportHtml(history, { ...summary, confusion: [[1, 2], [3, -1]] })).toThrow('non-negative integer counts');
    expect(() => trainingReportHtml(history, { ...summary, confusion: [[1, 2], [3, 4]], classNames: ['a'] })).toThrow(
      'summary.classNames must be 2 strings to match the confusion matrix, got array(1)',
    );
  });
});
