/** The part of a Node socket a WriteCoalescer needs. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Holds a connection's writes until the event loop has run every callback that is ready now, then writes them with
 * one system call. Under load several members' answers, or several callers' work, arrive in one turn of the loop:
 * written together they wake the process at the other end once. An idle connection's write waits for nothing but the
 * end of the current turn.
 */
export class WriteCoalescer {
  private held: Corkable | null = null;

  constructor(private readonly socketOf: () => Corkable | null | undefined) {}

  /** Call before each write. */
  hold() {
    if (this.held) return;
    const socket = this.socketOf();
    if (!socket) return;
    socket.cork();
    this.held = socket;
    setImmediate(() => {
      this.held = null;
      socket.uncork();
    });
  }
}

/** The socket under a `ws` WebSocket (the library keeps it in a field of its own). */
export const socketOfWebSocket = (ws: unknown): Corkable | null => ((ws as { _socket?: Corkable })._socket ?? null);
