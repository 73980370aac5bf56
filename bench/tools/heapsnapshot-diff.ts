/**
 * What each connection costs on the V8 heap, by kind of object: the difference between two
 * heap snapshots (`v8.writeHeapSnapshot`) taken at two connection counts, divided by the
 * connections added. Objects are grouped by snapshot type and constructor name (closures by
 * function name, strings and numbers together); self sizes, not retained sizes, so the rows
 * add up. `synthetic`/`native` rows are C++ objects Node reports (e.g. TCPSocketWrap), not heap.
 *
 *   npx tsx bench/tools/heapsnapshot-diff.ts before.heapsnapshot after.heapsnapshot <connections added> [top=30]
 *
 * `npm run bench -- memory` writes such a pair when BENCH_MEMORY_SNAPSHOTS=1.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const snapshotSchema = z.object({
  snapshot: z.object({ meta: z.object({ node_fields: z.array(z.string()), node_types: z.array(z.unknown()) }) }),
  nodes: z.array(z.number()),
  strings: z.array(z.string()),
});

interface Group {
  count: number;
  bytes: number;
}

export interface HeapDiffRow {
  kind: string;
  perConnection: number;
  bytesPerConnection: number;
}

/** type:name -> count and self size, over every node of the snapshot. */
function groups(file: string): Map<string, Group> {
  const parsed = snapshotSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const fields = parsed.snapshot.meta.node_fields;
  const types = z.array(z.string()).parse(parsed.snapshot.meta.node_types[0]);
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [number, number, number];
  const { nodes, strings } = parsed;
  const result = new Map<string, Group>();
  for (let node = 0; node < nodes.length; node += fields.length) {
    const type = types[nodes[node + typeAt] ?? 0] ?? '?';
    // A string's or number's "name" is its value: group them all.
    const named = !type.includes('string') && type !== 'number';
    const key = `${type}:${named ? (strings[nodes[node + nameAt] ?? 0] ?? '').slice(0, 60) : ''}`;
    const group = result.get(key) ?? { count: 0, bytes: 0 };
    group.count++;
    group.bytes += nodes[node + sizeAt] ?? 0;
    result.set(key, group);
  }
  return result;
}

export function heapSnapshotDiff(before: string, after: string, connections: number): { rows: HeapDiffRow[]; bytesPerConnection: number } {
  const [earlier, later] = [groups(before), groups(after)];
  const rows: HeapDiffRow[] = [];
  for (const [kind, group] of later) {
    const base = earlier.get(kind) ?? { count: 0, bytes: 0 };
    rows.push({ kind, perConnection: (group.count - base.count) / connections, bytesPerConnection: (group.bytes - base.bytes) / connections });
  }
  rows.sort((a, b) => b.bytesPerConnection - a.bytesPerConnection);
  return { rows, bytesPerConnection: rows.reduce((sum, row) => sum + row.bytesPerConnection, 0) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [before, after, connections, top = '30'] = process.argv.slice(2);
  if (!before || !after || !connections) {
    console.error('usage: heapsnapshot-diff.ts before.heapsnapshot after.heapsnapshot <connections added> [top]');
    process.exit(2);
  }
  const { rows, bytesPerConnection } = heapSnapshotDiff(before, after, Number(connections));
  console.log(`${bytesPerConnection.toFixed(0)} bytes per connection in all (self sizes)\n`);
  console.log('bytes/conn  objects/conn  type:constructor');
  for (const row of rows.slice(0, Number(top))) {
    console.log(`${row.bytesPerConnection.toFixed(1).padStart(10)}  ${row.perConnection.toFixed(2).padStart(12)}  ${row.kind}`);
  }
}
