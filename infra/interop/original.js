// The original's side of the bus, as its services use it: the Listener and
// Publisher of @sgtickets/common (the course's shared library) on
// node-nats-streaming, its nats-wrapper's connect, and the payloads its
// tickets service publishes and its order:created listeners read.
// interop_test.go runs it against our BUS=stan server (common/busserver).
//
// Environment (the original's names where it has them):
//   NATS_URL, NATS_CLUSTER_ID, NATS_CLIENT_ID  as in the original's manifests
//   QUEUE_GROUP   the order:created listener's queue group (default expiration-service)
//   EXPECT        exit 0 once this many order:created messages are acked (default 1)
//   TIMEOUT_MS    exit 2 if they have not come by then (default 20000)
//   ACK_WAIT_MS   the listener's ack wait (default the original's 5 * 1000)
//   HOLD_FIRST=1  do not ack the first delivery, so the server redelivers it
//
// stdout carries one JSON object a line, and nothing else:
//   {"published":"ticket:created","data":{...}}        after the server acked it
//   {"listening":"order:created","queueGroup":"..."}    once the subscription is up
//   {"received":"order:created","sequence":n,"redelivered":b,"acked":b,"data":{...},"read":{...}}
// where data is the payload as the original's Listener parses it and read is
// what the original's three order:created listeners compute from it. The
// original's own console.log lines go to stderr.
'use strict';

const crypto = require('crypto');
const nats = require('node-nats-streaming');

const log = (...args) => console.error(...args);
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const Subjects = {
  TicketCreated: 'ticket:created',
  OrderCreated: 'order:created',
};

// @sgtickets/common: events/base-listener.ts
class Listener {
  constructor(client) {
    this.client = client;
    this.ackWait = 5 * 1000;
  }

  subscriptionOptions() {
    return this.client
      .subscriptionOptions()
      .setDeliverAllAvailable()
      .setManualAckMode(true)
      .setAckWait(this.ackWait)
      .setDurableName(this.queueGroupName);
  }

  listen() {
    const subscription = this.client.subscribe(
      this.subject,
      this.queueGroupName,
      this.subscriptionOptions()
    );

    subscription.on('message', (msg) => {
      log(`Message received: ${this.subject} / ${this.queueGroupName}`);
      const parsedData = this.parseMessage(msg);
      this.onMessage(parsedData, msg);
    });
    return subscription;
  }

  parseMessage(msg) {
    const data = msg.getData();
    return typeof data === 'string'
      ? JSON.parse(data)
      : JSON.parse(data.toString('utf8'));
  }
}

// @sgtickets/common: events/base-publisher.ts
class Publisher {
  constructor(client) {
    this.client = client;
  }

  publish(data) {
    return new Promise((resolve, reject) => {
      this.client.publish(this.subject, JSON.stringify(data), (err) => {
        if (err) {
          return reject(err);
        }
        log('Event published to subject', this.subject);
        resolve();
      });
    });
  }
}

// tickets/src/events/publishers/ticket-created-publisher.ts
class TicketCreatedPublisher extends Publisher {
  constructor(client) {
    super(client);
    this.subject = Subjects.TicketCreated;
  }
}

// The original's order:created listeners (expiration, payments, tickets),
// in one: what each reads from the payload is reported, then it acks.
class OrderCreatedListener extends Listener {
  constructor(client, { queueGroupName, ackWait, holdFirst, onAcked }) {
    super(client);
    this.subject = Subjects.OrderCreated;
    this.queueGroupName = queueGroupName;
    if (ackWait) {
      this.ackWait = ackWait;
    }
    this.holdFirst = holdFirst;
    this.onAcked = onAcked;
  }

  onMessage(data, msg) {
    const read = {
      // expiration: the job's delay
      expiresAtMs: new Date(data.expiresAt).getTime(),
      // payments: Order.build({...})
      order: {
        id: data.id,
        price: data.ticket.price,
        status: data.status,
        userId: data.userId,
        version: data.version,
      },
      // tickets: Ticket.findById(data.ticket.id), then set({ orderId: data.id })
      ticketId: data.ticket.id,
      orderId: data.id,
    };
    const hold = this.holdFirst && !msg.isRedelivered();
    this.holdFirst = false;
    emit({
      received: msg.getSubject(),
      sequence: msg.getSequence(),
      redelivered: msg.isRedelivered(),
      acked: !hold,
      data,
      read,
    });
    if (hold) {
      return; // like a handler that threw before msg.ack()
    }
    msg.ack();
    this.onAcked();
  }
}

function main() {
  const env = process.env;
  const url = env.NATS_URL;
  const clusterId = env.NATS_CLUSTER_ID || 'ticketing';
  const clientId = env.NATS_CLIENT_ID || 'interop-' + crypto.randomBytes(4).toString('hex');
  const expect = Number(env.EXPECT || 1);
  const timeoutMs = Number(env.TIMEOUT_MS || 20000);
  if (!url) {
    log('NATS_URL must be defined');
    process.exit(1);
  }

  const timer = setTimeout(() => {
    log(`timed out after ${timeoutMs} ms`);
    process.exit(2);
  }, timeoutMs);

  // nats-wrapper.ts
  const client = nats.connect(clusterId, clientId, { url });
  client.on('error', (err) => {
    log('NATS error:', err && err.message ? err.message : err);
    process.exit(1);
  });
  client.on('connect', async () => {
    log('Connected to NATS');
    client.on('close', () => {
      log('NATS connection closed!');
      clearTimeout(timer);
      process.exit(0);
    });

    // tickets/src/routes/new.ts: a new ticket, as Mongoose gives it.
    const ticket = {
      id: crypto.randomBytes(12).toString('hex'),
      title: 'Concert — Zürich "front row" ♫',
      price: 1234.56,
      userId: crypto.randomBytes(12).toString('hex'),
      version: 0,
    };
    try {
      await new TicketCreatedPublisher(client).publish({
        id: ticket.id,
        title: ticket.title,
        price: ticket.price,
        userId: ticket.userId,
        version: ticket.version,
      });
    } catch (err) {
      log('publishing ticket:created:', err.message || err);
      process.exit(1);
    }
    emit({ published: Subjects.TicketCreated, data: ticket });

    let acked = 0;
    const listener = new OrderCreatedListener(client, {
      queueGroupName: env.QUEUE_GROUP || 'expiration-service',
      ackWait: env.ACK_WAIT_MS ? Number(env.ACK_WAIT_MS) : undefined,
      holdFirst: env.HOLD_FIRST === '1',
      onAcked: () => {
        acked++;
        if (acked >= expect) {
          // Closing keeps the durable position, as the original's
          // SIGTERM handler does.
          client.close();
        }
      },
    });
    const sub = listener.listen();
    sub.on('ready', () => emit({ listening: listener.subject, queueGroup: listener.queueGroupName }));
    sub.on('error', (err) => {
      log('subscription error:', err.message || err);
      process.exit(1);
    });
  });
}

main();
