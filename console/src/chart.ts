/** A time-series chart on uPlot: one line per series, x in epoch seconds, shown in the browser's zone. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';
import { html } from './ui.ts';

export interface Line {
  label: string;
  points: { t: number; v: number | null }[];
}

const COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/** Aligns the lines on the union of their timestamps (uPlot wants one x array). */
function align(lines: Line[]): uPlot.AlignedData {
  const xs = [...new Set(lines.flatMap((l) => l.points.map((p) => p.t)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = lines.map((l) => {
    const y: (number | null)[] = new Array(xs.length).fill(null);
    for (const p of l.points) y[index.get(p.t)!] = p.v;
    return y;
  });
  return [xs.map((x) => x / 1000), ...ys] as uPlot.AlignedData;
}

export function Chart({ lines, height = 260, stepped = false }: { lines: Line[]; height?: number; stepped?: boolean }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const target = el.current!;
    const width = Math.max(320, target.clientWidth || 800);
    const plot = new uPlot(
      {
        width,
        height,
        series: [
          {},
          ...lines.map((l, i) => ({
            label: l.label,
            stroke: COLOURS[i % COLOURS.length],
            width: 2,
            // Series of one query share an x array: a bucket missing from one is not a gap in it.
            spanGaps: true,
            ...(stepped ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
          })),
        ],
        axes: [{}, {}],
      },
      align(lines),
      target,
    );
    return () => plot.destroy();
  }, [lines, height]);
  return html`<div class="chart" ref=${el} role="img"
    aria-label=${`chart of ${lines.map((l) => l.label).join(', ')}`}></div>`;
}
