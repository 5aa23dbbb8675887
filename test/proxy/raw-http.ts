// HTTP/1.1 over one raw TCP socket: the proxy tests need to see what a keep-alive connection does after an answer
// (is the next request answered?) and to send what fetch refuses to send (`Expect`, odd methods).
import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** 1xx interim answers seen before this one. */
  interim: number[];
  /** The connection closed before the body its head announced was whole (only with `partial`). */
  cutShort?: boolean;
}

/** One request's bytes: the head from `lines`, then `body` with its Content-Length. */
export function rawRequest(method: string, path: string, headers: Record<string, string>, body: Buffer | null = null): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'host: coffer.test', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body) lines.push(`content-length: ${body.length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
}

/** A connection that reads answers one by one; `next()` fails (never hangs) when none comes within `ms`. */
export class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | null = null;
  closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    // A server that answers early may reset while we still write: the answers read so far still count.
    socket.on('error', () => {});
  }

  static open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(port), hostname, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * The next answer on this connection (`head` for an answer to HEAD: no body however long it says it is; `partial`
   * to take an answer whose body the server cut short by closing, as a streaming proxy does when its provider did).
   */
  async next(ms = 5000, options: { head?: boolean; partial?: boolean } = {}): Promise<RawResponse> {
    const deadline = Date.now() + ms;
    const interim: number[] = [];
    for (;;) {
      const parsed = this.parse(options.head ?? false);
      if (parsed && parsed.status < 200) {
        interim.push(parsed.status);
        continue;
      }
      if (parsed) return { ...parsed, interim };
      if (this.closed) {
        const cut = options.partial ? this.cutShort() : null;
        if (cut) return { ...cut, interim };
        throw new Error('the connection was closed without an answer');
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer within ${ms} ms on a connection that stayed open`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = null;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  /** What a closed connection holds after a head whose body never came whole. */
  private cutShort(): Omit<RawResponse, 'interim'> | null {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const { status, headers } = this.head(end);
    const body = this.buffer.subarray(end + 4);
    this.buffer = Buffer.alloc(0);
    return { status, headers, body, cutShort: true };
  }

  private head(end: number): { status: number; headers: Record<string, string> } {
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status: Number(statusLine.split(' ')[1]), headers };
  }

  private parse(head: boolean): Omit<RawResponse, 'interim'> | null {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return null;
    const { status, headers } = this.head(end);
    let rest = this.buffer.subarray(end + 4);
    let body = Buffer.alloc(0);
    if (status >= 200 && status !== 204 && status !== 304 && !head) {
      if (headers['transfer-encoding'] === 'chunked') {
        const parts: Buffer[] = [];
        for (;;) {
          const lineEnd = rest.indexOf('\r\n');
          if (lineEnd < 0) return null;
          const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
          if (rest.length < lineEnd + 2 + size + 2) return null;
          parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          rest = rest.subarray(lineEnd + 2 + size + 2);
          if (size === 0) break;
        }
        body = Buffer.concat(parts);
      } else if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length < length) return null;
        body = rest.subarray(0, length);
        rest = rest.subarray(length);
      } else if (!this.closed) {
        return null; // read to the end of the connection
      } else {
        body = rest;
        rest = Buffer.alloc(0);
      }
    }
    this.buffer = rest;
    return { status, headers, body };
  }
}
