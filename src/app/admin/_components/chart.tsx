"use client";

import { useEffect, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
}

/**
 * One time-series chart (uPlot, canvas): `times` in seconds, one line per
 * series. The plot is made once and given new data in place, so a tick
 * costs one redraw and no React reconciliation of points.
 */
export function Chart({
  title,
  times,
  series,
  unit,
  testId,
}: {
  title: string;
  times: number[];
  series: ChartSeries[];
  unit?: string;
  testId?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join("|");
  const data = [times, ...series.map((s) => s.values)] as uPlot.AlignedData;
  const latest = useRef(data);

  // Declared first: on a render that makes the plot, the data is in place before it is made.
  useEffect(() => {
    latest.current = data;
    plot.current?.setData(data);
  });

  useEffect(() => {
    let cancelled = false;
    let observer: ResizeObserver | null = null;
    // uPlot touches the DOM when loaded: only in the browser.
    void import("uplot").then(({ default: UPlot }) => {
      if (cancelled || !host.current) return;
      const width = () => Math.max(240, host.current?.clientWidth ?? 320);
      // Read at every redraw (once a second): a theme switched while the page is open recolours the axes too.
      const css = getComputedStyle(host.current);
      const axis = () => css.getPropertyValue("--console-muted").trim() || "#888";
      const grid = () => css.getPropertyValue("--console-grid").trim() || "#8882";
      plot.current = new UPlot(
        {
          width: width(),
          height: 150,
          legend: { show: true, live: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true } },
          axes: [
            { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { show: false } },
            {
              stroke: axis,
              grid: { stroke: grid, width: 1 },
              ticks: { show: false },
              size: 48,
              values: (_u, splits) => splits.map((v) => `${formatNumber(v)}${unit ?? ""}`),
            },
          ],
          series: [
            {},
            ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, points: { show: false } })),
          ],
        },
        latest.current,
        host.current,
      );
      observer = new ResizeObserver(() => plot.current?.setSize({ width: width(), height: 150 }));
      observer.observe(host.current);
    });
    return () => {
      cancelled = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // A new set of series makes a new plot; new values only update it (below).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, unit]);

  return (
    <figure className="console-chart" data-testid={testId}>
      <figcaption>{title}</figcaption>
      <div ref={host} />
    </figure>
  );
}

export function formatNumber(value: number): string {
  if (Math.abs(value) >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (Math.abs(value) >= 1e4) return `${(value / 1e3).toFixed(0)}k`;
  if (Math.abs(value) >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}
