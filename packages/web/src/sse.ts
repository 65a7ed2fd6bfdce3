/**
 * An incremental parser for server-sent events (the WHATWG `text/event-stream` format),
 * fed whatever chunks the network delivers. The dashboard reads `/v1/watch` with `fetch`
 * rather than `EventSource` so the token travels in a header, which means parsing the
 * stream itself. Pure: chunks in, messages out.
 */

/** One dispatched event. `event` defaults to "message", as in EventSource. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** What a chunk produced: complete messages, and a reconnection delay if the server set one. */
export interface SseOutput {
  messages: SseMessage[];
  retryMs?: number;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  /** A chunk may end between "\r" and "\n": the "\n" that follows must not end another line. */
  private skipNewline = false;

  /** Feeds one decoded chunk; returns the events it completed. */
  push(chunk: string): SseOutput {
    const out: SseOutput = { messages: [] };
    let text = this.buffer + chunk;
    if (this.skipNewline && text.startsWith('\n')) text = text.slice(1);
    this.skipNewline = false;
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      this.line(text.slice(start, i), out);
      if (c === '\r') {
        if (i + 1 < text.length) {
          if (text[i + 1] === '\n') i++;
        } else {
          this.skipNewline = true;
        }
      }
      start = i + 1;
    }
    this.buffer = text.slice(start);
    return out;
  }

  private line(line: string, out: SseOutput): void {
    if (line === '') {
      // A blank line dispatches what has been gathered; an event without data is dropped.
      if (this.data.length > 0) {
        const message: SseMessage = { event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') };
        if (this.id !== undefined) message.id = this.id;
        out.messages.push(message);
      }
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // a comment: the server's heartbeat
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) out.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored, as the standard says
    }
  }
}
