/**
 * React re-render cost of a live dashboard at 50 events/s: the example app's dashboard
 * (examples/react-app, production React with the Profiler on) in Chromium against the
 * BFF, once with `useEvents` (renders throttled to one per 100 ms) and once with one
 * state update per event (`useChannelEvent` + `useState`, the re-render storm). React's
 * Profiler reports every commit and its render time; CDP's Performance metrics the page's
 * whole main-thread script time (client, React and DOM), per second of events.
 */
import type { CDPSession, Page } from 'playwright-core';
import { buildReactApp } from '../../examples/react-app/build.js';
import { launchChromium } from '../../test/helpers/browser.js';
import { waitForQuiet } from '../lib/proc.js';
import type { BenchResult } from '../lib/report.js';
import { publishBatch, startServer, TENANT, type BenchContext } from '../lib/servers.js';
import { fmt, percentile, ratio } from '../lib/stats.js';

const RATE_PER_SECOND = 50;
const MODES = ['every-event', 'throttled'] as const;
type Mode = (typeof MODES)[number];

interface ModeRun {
  mode: Mode;
  events: number;
  seconds: number;
  commits: number;
  renderMs: number[];
  /** Main-thread script time of the page during the run (CDP ScriptDuration), ms. */
  scriptMs: number;
}

interface Commit {
  actualDuration: number;
  commitTime: number;
}

async function scriptSeconds(session: CDPSession): Promise<number> {
  const { metrics } = (await session.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> };
  return metrics.find((metric) => metric.name === 'ScriptDuration')?.value ?? 0;
}

async function runMode(ctx: BenchContext, baseUrl: string, appPath: string, page: Page, mode: Mode, seconds: number): Promise<ModeRun> {
  const channel = `dashboard:${mode}`;
  await page.goto(`${baseUrl}${appPath}?view=dashboard&mode=${mode}&channel=${channel}&tenant=${TENANT}&user=viewer`);
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 20_000 });
  // The subscription is live once a first event arrives; measure from there.
  await publishBatch(baseUrl, [{ channel, event: 'metric', data: { value: 50 } }]);
  await page.locator('figure.dashboard[data-seq="1"]').waitFor({ timeout: 20_000 });
  const session = await page.context().newCDPSession(page);
  await session.send('Performance.enable');
  await waitForQuiet(10_000);
  await page.evaluate(() => {
    window.reactCommits = [];
  });
  const scriptBefore = await scriptSeconds(session);
  const events = Math.round(seconds * RATE_PER_SECOND);
  ctx.log(`react ${mode}: ${events} events at ${RATE_PER_SECOND}/s`);
  const started = performance.now();
  // Paced by the clock, not by the answers: a slow answer must not lower the rate.
  const publishes: Array<Promise<void>> = [];
  for (let index = 0; index < events; index++) {
    const wait = started + (index * 1000) / RATE_PER_SECOND - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    publishes.push(publishBatch(baseUrl, [{ channel, event: 'metric', data: { value: 50 + 40 * Math.sin(index / 10) } }]));
  }
  await Promise.all(publishes);
  await page.locator(`figure.dashboard[data-seq="${events + 1}"]`).waitFor({ timeout: 30_000 });
  const elapsed = (performance.now() - started) / 1000;
  const scriptAfter = await scriptSeconds(session);
  const commits = await page.evaluate(() => window.reactCommits ?? []);
  await session.detach();
  return { mode, events, seconds: elapsed, commits: commits.length, renderMs: commits.map((commit: Commit) => commit.actualDuration), scriptMs: (scriptAfter - scriptBefore) * 1000 };
}

export async function runReact(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.quick ? 4 : 10;
  const [server, browser, appPath] = await Promise.all([startServer(ctx, 'switchboard', { store: 'memory' }), launchChromium(), buildReactApp('profiling')]);
  try {
    const page = await browser.newPage();
    const runs: ModeRun[] = [];
    for (const mode of MODES) runs.push(await runMode(ctx, server.baseUrl, appPath, page, mode, seconds));
    const storm = runs.find((run) => run.mode === 'every-event');
    const throttled = runs.find((run) => run.mode === 'throttled');
    const perSecond = (run: ModeRun, value: number) => value / run.seconds;
    const total = (run: ModeRun) => run.renderMs.reduce((sum, value) => sum + value, 0);
    return {
      name: 'react',
      title: `React dashboard at ${RATE_PER_SECOND} events/s (Chromium, React Profiler)`,
      params: { rate: RATE_PER_SECOND, seconds, events: throttled?.events ?? 0, react: 'production + profiling' },
      table: {
        columns: ['dashboard', 'events', 'commits/s', 'render ms/s (Profiler)', 'render ms/commit p50 / p99', 'page script ms/s (CDP)'],
        rows: runs.map((run) => [
          run.mode === 'throttled' ? 'useEvents (throttleMs 100)' : 'useState per event',
          String(run.events),
          fmt(perSecond(run, run.commits), 1),
          fmt(perSecond(run, total(run)), 2),
          `${fmt(percentile(run.renderMs, 50), 3)} / ${fmt(percentile(run.renderMs, 99), 3)}`,
          fmt(perSecond(run, run.scriptMs), 1),
        ]),
      },
      targets:
        storm && throttled
          ? [
              { what: 'throttled commits/s', target: '≤ 11', actual: fmt(perSecond(throttled, throttled.commits), 1), met: perSecond(throttled, throttled.commits) <= 11 },
              { what: 'render time vs per-event updates', target: '≥ 3× less', actual: ratio(total(storm), total(throttled)), met: total(storm) >= 3 * total(throttled) },
            ]
          : [],
      notes: [
        'One event per HTTP publish, sent on a 20 ms clock without waiting for answers; the page signs in with dev login and subscribes like any app.',
        'render ms: React Profiler actualDuration summed over commits (render phase of the dashboard subtree); page script ms: everything the page ran (client, React, DOM).',
      ],
      raw: runs,
    };
  } finally {
    await browser.close();
    await server.stop();
  }
}
