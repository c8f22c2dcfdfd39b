import WebSocket, { type ClientOptions } from 'ws';
import { ConnectTimeout, ControlPlaneUnreachable } from './connect-error';

/**
 * A ws WebSocket whose failures before 'open' are ControlPlaneUnreachable, so a listener on 'error' gets
 * the same one-line message as a failed request. Errors after 'open' (bad frames, too large a message)
 * are protocol errors and pass through unchanged.
 */
export class ControlPlaneSocket extends WebSocket {
  private opened = false;
  private timedOutAfter: number | undefined;

  constructor(url: string, options: ClientOptions, handshakeTimeoutMs: number) {
    super(url, options);
    // ws's own handshakeTimeout is a socket idle timer, which only starts once there is a socket: a proxy
    // that never answers the CONNECT would leave the socket CONNECTING for ever.
    const timer = setTimeout(() => {
      if (this.readyState !== WebSocket.CONNECTING) return;
      this.timedOutAfter = handshakeTimeoutMs;
      this.terminate();
    }, handshakeTimeoutMs);
    const stop = () => clearTimeout(timer);
    this.once('open', stop);
    this.once('close', stop);
  }

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'open') this.opened = true;
    if (event === 'error' && !this.opened) {
      const err = this.timedOutAfter === undefined ? args[0] : new ConnectTimeout(this.timedOutAfter);
      return super.emit('error', new ControlPlaneUnreachable(this.url, err));
    }
    return super.emit(event, ...args);
  }
}
