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
  private idInBlock = false;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  push(chunk: string): void {
    this.buffer += chunk;
    // A trailing '\r' may be the first half of a '\r\n' split across chunks: keep it back.
    const heldCr = this.buffer.endsWith('\r');
    const lines = (heldCr ? this.buffer.slice(0, -1) : this.buffer).split(/\r\n|\r|\n/);
    this.buffer = (lines.pop() ?? '') + (heldCr ? '\r' : '');
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
    else if (field === 'id' && !value.includes('\0')) {
      this.id = value;
      this.idInBlock = true;
    }
  }

  private dispatch(): void {
    const data = this.data.length > 0 ? this.data.join('\n') : undefined;
    if (data !== undefined || this.idInBlock) this.onMessage({ id: this.id, event: this.event || 'message', data });
    this.data = [];
    this.event = '';
    this.idInBlock = false;
  }
}
