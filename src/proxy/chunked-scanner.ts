/**
 * Finds where a chunked body (RFC 9112 7.1) ends, incrementally, without copying it: the fast lane
 * relays the bytes exactly as framed and only needs to know where the message stops, plus (for the
 * tap) which ranges are payload. Pure state machine over Buffers, no I/O.
 */

const enum S {
  Size, // hex digits of a chunk size
  Ext, // chunk extensions, up to CRLF
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart, // start of a trailer line or the final CRLF
  Trailer,
  TrailerLf,
  FinalLf,
  Done,
}

/** Longest size line plus extensions accepted (the size itself is at most 15 hex digits). */
const MAX_LINE = 4096;
/** Trailer section, at most (as much as a head's fields, kept small). */
const MAX_TRAILERS = 16 * 1024;

export class ChunkedScanner {
  private state = S.Size;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private trailerColon = false;
  /** Set when the framing is invalid: the message cannot be relayed safely. */
  error: string | null = null;

  get done(): boolean {
    return this.state === S.Done;
  }

  /**
   * Scans buf[start..]. Returns the index just past the end of the message when it ends in this
   * buffer, or -1 when it needs more (or on error: see `error`). `onData` receives each payload
   * range (for the tap); it is only called when given.
   */
  feed(buf: Buffer, start: number, onData?: (buf: Buffer, from: number, to: number) => void): number {
    let i = start;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case S.Size: {
          const c = buf[i]!;
          const v = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (v >= 0) {
            if (++this.digits > 15) return this.fail('chunk size too large');
            this.size = this.size * 16 + v;
            i++;
          } else if (this.digits === 0) {
            return this.fail('chunk size expected');
          } else if (c === 0x3b /* ; */) {
            // No whitespace before the ';': node's parser refuses it, and so does this one.
            this.state = S.Ext;
            this.lineBytes = 0;
          } else if (c === 0x0d) {
            this.state = S.SizeLf;
            i++;
          } else return this.fail('bad chunk size');
          break;
        }
        case S.Ext: {
          const cr = buf.indexOf(0x0d, i);
          const end = cr < 0 ? n : cr;
          this.lineBytes += end - i;
          if (this.lineBytes > MAX_LINE) return this.fail('chunk extension too long');
          for (let j = i; j < end; j++) if (buf[j] === 0x0a) return this.fail('bare LF in chunk line');
          i = end;
          if (cr >= 0) {
            this.state = S.SizeLf;
            i++;
          }
          break;
        }
        case S.SizeLf:
          if (buf[i] !== 0x0a) return this.fail('CRLF expected after chunk size');
          i++;
          this.digits = 0;
          if (this.size === 0) {
            this.state = S.TrailerStart;
          } else this.state = S.Data;
          break;
        case S.Data: {
          const take = Math.min(this.size, n - i);
          if (onData !== undefined) onData(buf, i, i + take);
          i += take;
          this.size -= take;
          if (this.size === 0) this.state = S.DataCr;
          break;
        }
        case S.DataCr:
          if (buf[i] !== 0x0d) return this.fail('CRLF expected after chunk data');
          i++;
          this.state = S.DataLf;
          break;
        case S.DataLf:
          if (buf[i] !== 0x0a) return this.fail('CRLF expected after chunk data');
          i++;
          this.state = S.Size;
          break;
        case S.TrailerStart:
          this.trailerColon = false;
          if (buf[i] === 0x0d) {
            this.state = S.FinalLf;
            i++;
          } else this.state = S.Trailer;
          break;
        case S.Trailer: {
          // Trailer lines are checked as strictly as node checks them (a field line, CRLF only):
          // an upstream that ended the body at a bare LF would read what follows as a new request.
          const cr = buf.indexOf(0x0d, i);
          const end = cr < 0 ? n : cr;
          this.trailerBytes += end - i;
          if (this.trailerBytes > MAX_TRAILERS) return this.fail('trailers too large');
          for (let j = i; j < end; j++) {
            const b = buf[j]!;
            if (b === 0x0a) return this.fail('bare LF in a trailer');
            if (b === 0x3a) this.trailerColon = true;
          }
          if (cr >= 0 && !this.trailerColon) return this.fail('trailer line without a colon');
          i = end;
          if (cr >= 0) {
            this.state = S.TrailerLf;
            i++;
          }
          break;
        }
        case S.TrailerLf:
          if (buf[i] !== 0x0a) return this.fail('CRLF expected after a trailer');
          i++;
          this.state = S.TrailerStart;
          break;
        case S.FinalLf:
          if (buf[i] !== 0x0a) return this.fail('CRLF expected at the end of a chunked body');
          this.state = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
    }
    return -1;
  }

  private fail(reason: string): number {
    this.error = reason;
    return -1;
  }
}
