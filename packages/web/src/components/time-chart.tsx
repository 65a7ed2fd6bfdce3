/**
 * A time-series chart drawn by uPlot (loaded on first use, so pages without charts do not
 * pay for it). Times are milliseconds since the epoch; a `null` value leaves a gap. For
 * screen readers, and anyone who wants the numbers, the latest value of each series is
 * written out below the chart.
 */
import { useEffect, useRef } from 'react';
import type uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  /** A CSS colour with enough contrast on white. */
  color: string;
  /** Dashes for threshold lines: `[6, 4]`. */
  dash?: number[];
  /** Draw points only (sparse series, like gate evaluations). */
  points?: boolean;
  /** Line width in CSS pixels (2 unless set): thin for the edges of a band. */
  width?: number;
}

/**
 * A shaded band between two series (indices into `series`), such as an estimate's
 * interval, with a whisker at each time both edges have a value, so that a single
 * evaluation shows its interval too.
 */
export interface ChartBand {
  upper: number;
  lower: number;
  /** A CSS colour, translucent: the series under it stay visible. */
  fill: string;
}

export interface TimeChartProps {
  title: string;
  series: readonly ChartSeries[];
  /** Times in ms, then one array of values per series, all the same length. */
  times: readonly number[];
  values: ReadonlyArray<ReadonlyArray<number | null>>;
  format?: (v: number) => string;
  height?: number;
  /** Shown instead of an empty chart. */
  emptyText?: string;
  bands?: readonly ChartBand[];
}

/** The latest non-null value of a series, for the text summary. */
export function latestValue(values: ReadonlyArray<number | null>): number | null {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** Whiskers of a band: at each time both edges have a value, the two y values (uPlot's data, x in s). */
export function bandWhiskers(data: uPlot.AlignedData, band: ChartBand): Array<{ x: number; low: number; high: number }> {
  const xs = data[0] as ArrayLike<number>;
  const hi = (data[band.upper + 1] ?? []) as ArrayLike<number | null | undefined>;
  const lo = (data[band.lower + 1] ?? []) as ArrayLike<number | null | undefined>;
  const out: Array<{ x: number; low: number; high: number }> = [];
  for (let i = 0; i < xs.length; i++) {
    const h = hi[i];
    const l = lo[i];
    if (h !== null && h !== undefined && l !== null && l !== undefined) out.push({ x: xs[i] as number, low: l, high: h });
  }
  return out;
}

/** Tick spacings of the time axis, in seconds. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** "14:03:22" in the browser's time zone. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** uPlot's data: x in seconds (its time axis unit), then the series. */
export function toAlignedData(times: readonly number[], values: ReadonlyArray<ReadonlyArray<number | null>>): uPlot.AlignedData {
  return [times.map((t) => t / 1000), ...values.map((v) => [...v])] as uPlot.AlignedData;
}

export function TimeChart(props: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const { title, series, times, values, format = (v: number) => v.toFixed(2), height = 220, bands = [] } = props;
  const shape = `${series.map((s) => `${s.label}|${s.color}|${s.points === true}|${s.width ?? 2}`).join(',')};${bands.map((b) => `${b.upper}-${b.lower}-${b.fill}`).join(',')}`;
  const data = toAlignedData(times, values);
  const dataRef = useRef(data);
  dataRef.current = data;
  const formatRef = useRef(format);
  formatRef.current = format;

  // (Re)build the plot when the series change; data updates go through setData below.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `shape` stands for `series`
  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    let disposed = false;
    let ro: ResizeObserver | undefined;
    void import('uplot').then(({ default: UPlot }) => {
      if (disposed) return;
      const opts: uPlot.Options = {
        width: Math.max(280, el.clientWidth),
        height,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [
          // Whole seconds at least: a rollout's gate runs every second or so, and sub-second ticks only clutter.
          { stroke: '#3d4451', grid: { stroke: '#e3e6eb' }, incrs: TIME_STEPS, space: 70, values: (_u, ticks) => ticks.map((t) => clockTime(t * 1000)) },
          {
            stroke: '#3d4451',
            grid: { stroke: '#e3e6eb' },
            // Wide enough for the longest tick label ("1,250 ms"), so none is clipped.
            size: (_u, values) => Math.ceil(Math.max(4, ...(values ?? []).map((v) => String(v).length)) * 7.5 + 22),
            values: (_u, ticks) => ticks.map((t) => formatRef.current(t)),
          },
        ],
        series: [
          { label: 'time', value: (_u: uPlot, v: number | null) => (v === null ? '—' : clockTime(v * 1000)) },
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.width ?? 2,
            ...(s.dash === undefined ? {} : { dash: s.dash }),
            ...(s.points === true ? { paths: () => null, points: { show: true, size: 7, fill: s.color } } : { points: { show: false } }),
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : formatRef.current(v)),
            spanGaps: s.dash !== undefined,
          })),
        ],
        bands: bands.map((b) => ({ series: [b.upper + 1, b.lower + 1] as [number, number], fill: b.fill })),
        hooks: {
          draw: [
            (u: uPlot) => {
              // Whiskers: the band's edges at each evaluation, visible even for a single one.
              const ctx = u.ctx;
              ctx.save();
              // uPlot leaves the last series' dash on the context (a dashed threshold line).
              ctx.setLineDash([]);
              ctx.lineWidth = 1.5 * devicePixelRatio;
              for (const b of bands) {
                ctx.strokeStyle = series[b.upper]?.color ?? '#3d4451';
                ctx.beginPath();
                for (const w of bandWhiskers(u.data, b)) {
                  const x = u.valToPos(w.x, 'x', true);
                  ctx.moveTo(x, u.valToPos(w.low, 'y', true));
                  ctx.lineTo(x, u.valToPos(w.high, 'y', true));
                }
                ctx.stroke();
              }
              ctx.restore();
            },
          ],
        },
      };
      plot.current = new UPlot(opts, dataRef.current, el);
      ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(280, el.clientWidth), height }));
      ro.observe(el);
    });
    return () => {
      disposed = true;
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  const empty = times.length === 0;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {empty && props.emptyText !== undefined ? <p className="muted chart-empty">{props.emptyText}</p> : null}
      <div ref={box} className="chart-plot" style={empty && props.emptyText !== undefined ? { display: 'none' } : { minHeight: height }} aria-hidden="true" />
      <p className="sr-only">
        {series.map((s, i) => {
          const v = latestValue(values[i] ?? []);
          return `${s.label}: ${v === null ? 'no value' : format(v)}. `;
        })}
      </p>
    </figure>
  );
}
