// Preloaded into the Microsoft 365 Agents Playground (`node --require`): the Playground has no
// host option and listens on every interface, which would let anyone on the network act as the
// demo's admin. Every TCP server it starts listens on loopback instead (BLOCKWATCH_PLAYGROUND_HOST
// overrides the address). Unix sockets and inherited handles are left alone.
"use strict";
const net = require("net");

const host = process.env.BLOCKWATCH_PLAYGROUND_HOST || "127.0.0.1";
const listen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value));
}

net.Server.prototype.listen = function pinnedListen(...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    const socketOnly = first.path !== undefined || first.handle !== undefined || first.fd !== undefined;
    if (!socketOnly) args[0] = { ...first, host };
  } else if (isPort(first)) {
    if (typeof args[1] === "string") args[1] = host; // listen(port, host, ...)
    else args.splice(1, 0, host); // listen(port[, backlog][, callback])
  } else if (first === undefined || typeof first === "function") {
    args.unshift(0, host); // listen([callback]): a random port
  }
  return listen.apply(this, args);
};
