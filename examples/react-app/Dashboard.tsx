import { useState } from 'react';
import { z } from 'zod';
import { useChannelEvent, useEvents, type ChannelEvent } from 'switchboard/react';

const metricSchema = z.object({ value: z.number() });
type Metric = ChannelEvent<z.infer<typeof metricSchema>>;

const POINTS = 100;

function Chart({ points }: { points: ReadonlyArray<Metric> }) {
  const latest = points.at(-1);
  const line = points.map((point, index) => `${index * 4},${100 - point.data.value}`).join(' ');
  return (
    <figure className="dashboard" data-seq={latest?.meta.seq ?? 0}>
      <figcaption>{latest ? `${latest.data.value.toFixed(1)} (seq ${latest.meta.seq})` : 'waiting…'}</figcaption>
      <svg viewBox={`0 0 ${POINTS * 4} 100`} width={POINTS * 4} height={100}>
        <polyline points={line} fill="none" stroke="currentColor" />
      </svg>
      <table>
        <tbody>
          {points.slice(-10).map((point) => (
            <tr key={point.meta.id}>
              <td>{point.meta.seq}</td>
              <td>{point.data.value.toFixed(2)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

/** A high-rate metric feed: `useEvents` keeps the newest points and renders at most every `throttleMs`. */
export function Dashboard({ channel, throttleMs = 100 }: { channel: string; throttleMs?: number }) {
  const { events } = useEvents(channel, { event: 'metric', schema: metricSchema, limit: POINTS, throttleMs });
  return <Chart points={events} />;
}

/** The same chart with one React state update per event: the re-render storm the benchmark compares against. */
export function DashboardEveryEvent({ channel }: { channel: string }) {
  const [points, setPoints] = useState<ReadonlyArray<Metric>>([]);
  useChannelEvent(channel, 'metric', (data, meta) => setPoints((current) => [...current, { event: 'metric', data, meta }].slice(-POINTS)), {
    schema: metricSchema,
  });
  return <Chart points={points} />;
}
