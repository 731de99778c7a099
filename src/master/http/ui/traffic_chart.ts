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
