// A compact graphql-transport-ws client (the protocol of the graphql-ws library, which this API
// speaks), so that the page needs no build step and no package: one socket carries every
// operation; the server's pings are answered; its close codes (4403: no valid token, ...) end
// every operation with an error that says which.

const PROTOCOL = "graphql-transport-ws";

export class SocketError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// A GraphQL error from the server: the first error's extensions.code, every message.
export class GraphQLErrors extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.errors = errors;
    this.code = errors[0]?.extensions?.code ?? "GRAPHQL_ERROR";
  }
}

function closedError(code, reason) {
  // 1006: the handshake was refused (another origin, a proxy) or the connection dropped.
  const why = reason || (code === 1006 ? "the connection was refused or dropped" : "closed");
  return new SocketError(`WEBSOCKET_${code}`, `the API closed the WebSocket (${code}): ${why}`);
}

export class GraphQLSocket {
  // Opens the socket and resolves once the server acknowledged the token in connection_init.
  static open(url, authorization) {
    return new Promise((resolve, reject) => {
      const socket = new GraphQLSocket(new WebSocket(url, PROTOCOL), authorization);
      socket.onAck = () => resolve(socket);
      socket.onFailure = reject;
    });
  }

  constructor(ws, authorization) {
    this.ws = ws;
    this.sinks = new Map();
    this.nextId = 1;
    this.failure = null;
    ws.onopen = () => this.send({ type: "connection_init", payload: authorization ? { authorization } : {} });
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => this.closed(event.code, event.reason);
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  receive(message) {
    const sink = this.sinks.get(message.id);
    switch (message.type) {
      case "connection_ack":
        this.onAck?.();
        break;
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        sink?.push({ value: message.payload });
        break;
      case "error":
        this.sinks.delete(message.id);
        sink?.push({ error: new GraphQLErrors(message.payload) });
        break;
      case "complete":
        this.sinks.delete(message.id);
        sink?.push({ done: true });
        break;
    }
  }

  closed(code, reason) {
    this.failure = closedError(code, reason);
    this.onFailure?.(this.failure);
    for (const sink of this.sinks.values()) sink.push({ error: this.failure });
    this.sinks.clear();
  }

  // The operation's results as an async iterator: each `next` payload ({data, errors}); it ends
  // when the server completes the operation, and throws on an `error` message or a closed socket.
  // Leaving the loop early tells the server to stop.
  async *operation(query, variables = {}) {
    if (this.failure) throw this.failure;
    const id = String(this.nextId++);
    const queue = [];
    let wake = null;
    this.sinks.set(id, {
      push: (item) => {
        queue.push(item);
        wake?.();
      },
    });
    this.send({ id, type: "subscribe", payload: { query, variables } });
    try {
      while (true) {
        if (queue.length === 0) await new Promise((resolve) => (wake = resolve));
        wake = null;
        const item = queue.shift();
        if (item.done) return;
        if (item.error) throw item.error;
        yield item.value;
      }
    } finally {
      if (this.sinks.delete(id) && this.ws.readyState === WebSocket.OPEN) this.send({ id, type: "complete" });
    }
  }

  close() {
    this.onFailure = null;
    this.ws.close(1000, "done");
  }
}
