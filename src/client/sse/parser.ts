/** An incremental Server-Sent Events parser (WHATWG "event stream interpretation"), for runtimes without EventSource. */
export interface SseMessage {
  id: string | undefined;
  event: string;
  /** Undefined for a frame that only sets the id (the BFF's first frame does). */
  data: string | undefined;
}

export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    // The last piece may be an incomplete line (a lone '\r' could still become '\r\n').
    this.buffer = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }

  private dispatch(): void {
    const data = this.data.length > 0 ? this.data.join('\n') : undefined;
    if (data !== undefined || this.id !== undefined) this.onMessage({ id: this.id, event: this.event || 'message', data });
    this.data = [];
    this.event = '';
  }
}
