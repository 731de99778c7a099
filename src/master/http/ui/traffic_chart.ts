// A traffic series as the chart view takes it, with links to the other ranges when the page has them.
import type { TrafficChartModel } from "../../../../ui/views/charts.tsx";
import { TRAFFIC_RANGES, type TrafficRange, type TrafficSeries } from "../../service/traffic.ts";

export function chartModel(
  series: TrafficSeries,
  m: { id: string; title: string; rxLabel: string; txLabel: string; rangeHref?: (r: TrafficRange) => string },
  range: TrafficRange = "24h",
): TrafficChartModel {
  const { rangeHref, ...rest } = m;
  return {
    ...rest,
    from: series.from,
    to: series.to,
    slotMs: series.slotMs,
    points: series.points,
    totals: series.totals,
    samples: series.samples,
    ...(rangeHref
      ? {
        ranges: (Object.keys(TRAFFIC_RANGES) as TrafficRange[]).map((r) => ({
          href: rangeHref(r),
          label: r,
          current: r === range,
        })),
      }
      : {}),
  };
}

/**
 * The range a chart shows: the one in the address, else the last hour while every sample is younger than
 * two hours (a new install draws a curve at once instead of one dash on a 24-hour axis), else 24 hours.
 */
export function pickRange(
  requested: string | undefined,
  series: (r: TrafficRange) => TrafficSeries,
): { range: TrafficRange; series: TrafficSeries } {
  if (requested && requested in TRAFFIC_RANGES) {
    const range = requested as TrafficRange;
    return { range, series: series(range) };
  }
  const day = series("24h");
  const first = day.points.find((p) => p.rx !== null || p.tx !== null);
  const young = day.samples > 0 && (!first || first.at >= day.to - 2 * 3_600_000);
  return young ? { range: "1h", series: series("1h") } : { range: "24h", series: day };
}
