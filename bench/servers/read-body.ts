import { createServer, type IncomingMessage, type Server } from 'node:http';

export async function readJson(request: IncomingMessage, limit = 4 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}

/** `{ messages: [{ event, data }] }` as the peers' publish endpoints take it. */
export function publishedMessages(body: unknown): { event: string; data: unknown }[] {
  if (typeof body !== 'object' || body === null || !('messages' in body) || !Array.isArray(body.messages)) return [];
  return (body.messages as unknown[]).flatMap((message) =>
    typeof message === 'object' && message !== null && 'event' in message && typeof message.event === 'string' && 'data' in message
      ? [{ event: message.event, data: message.data }]
      : [],
  );
}

/** The peers' HTTP side: `POST /publish` with `{ messages }` hands them to `fanOut`, anything else is 404. */
export function publishServer(fanOut: (messages: { event: string; data: unknown }[]) => void): Server {
  return createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/publish') {
      response.writeHead(404).end();
      return;
    }
    readJson(request).then(
      (body) => {
        const messages = publishedMessages(body);
        fanOut(messages);
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ published: messages.length }));
      },
      () => response.writeHead(400).end(),
    );
  });
}
