// Channel-level test helpers: two tessera/1 channels built from fixed secrets, without a
// handshake, for tests of the record layer alone.

import { type RandomSource, systemRandom } from "../../lib/crypto/random.ts";
import { utf8 } from "../../lib/crypto/_bytes.ts";
import type { PaddingPolicy } from "../../lib/session/profile.ts";
import { ReplayWindow } from "../../lib/session/replay_window.ts";
import { DEFAULT_MAX_RECORD_SIZE } from "../../lib/session/secure_session.ts";
import {
  type ChannelConfig,
  type ChannelStart,
  Tessera1Channel,
} from "../../lib/session/tessera1_channel.ts";

/** Limits for test channels; override what a test needs. */
export function channelConfig(overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    random: systemRandom,
    recordsPerKey: 1000,
    bytesPerKey: 2 ** 30,
    maxRecordSize: 1024,
    maxAuthFailures: 1000,
    padding: "none" as PaddingPolicy,
    ...overrides,
  };
}

/**
 * The start of one side of a channel whose secrets are fixed: 01.. one way, 02.. the other. The
 * peer's record size limit is the default (what a peer declaring none accepts).
 */
export function channelStart(
  role: "client" | "server",
  overrides: Partial<ChannelStart> = {},
): ChannelStart {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  return {
    role,
    peerId: new Uint8Array([role === "client" ? 0x73 : 0x63]),
    sessionId: new Uint8Array(16),
    exporter: new Uint8Array(32).fill(3),
    peerMaxRecordSize: DEFAULT_MAX_RECORD_SIZE,
    resumed: false,
    attributes: null,
    ticketExpiresAt: null,
    alertKey: null,
    send: { epoch: 0, secret: (role === "client" ? a : b).slice(), fork: null },
    forkOnStart: false,
    sendSeq: 0n,
    receive: { epoch: 0, secret: (role === "client" ? b : a).slice(), fork: null },
    receiveStart: -1n,
    window: new ReplayWindow(),
    accepted: 0n,
    authFailures: 0,
    ...overrides,
  };
}

/** A sender (client) and a receiver (server) channel that talk to each other. */
export function channelPair(
  config: Partial<ChannelConfig> = {},
  client: Partial<ChannelStart> = {},
  server: Partial<ChannelStart> = {},
): { sender: Tessera1Channel; receiver: Tessera1Channel } {
  return {
    sender: Tessera1Channel.create(channelStart("client", client), channelConfig(config)),
    receiver: Tessera1Channel.create(channelStart("server", server), channelConfig(config)),
  };
}

/** A random source that hands out `value` again and again. */
export function constantRandom(value: Uint8Array): RandomSource {
  return (out) => {
    for (let i = 0; i < out.length; i++) out[i] = value[i % value.length]!;
    return out;
  };
}

/** A library channel from fixed secrets (no handshake); `start` and `config` override the defaults. */
export function fixedChannel(
  start: Partial<ChannelStart> = {},
  config: Partial<ChannelConfig> = {},
): Tessera1Channel {
  return Tessera1Channel.create({
    role: "client",
    peerId: utf8("peer"),
    sessionId: new Uint8Array(16),
    exporter: new Uint8Array(32),
    peerMaxRecordSize: DEFAULT_MAX_RECORD_SIZE,
    resumed: false,
    attributes: null,
    ticketExpiresAt: null,
    alertKey: null,
    send: { epoch: 0, secret: new Uint8Array(32), fork: null },
    forkOnStart: false,
    sendSeq: 0n,
    receive: { epoch: 0, secret: new Uint8Array(32), fork: null },
    receiveStart: -1n,
    window: new ReplayWindow(),
    accepted: 0n,
    authFailures: 0,
    ...start,
  }, {
    random: systemRandom,
    recordsPerKey: 1000,
    bytesPerKey: 2 ** 30,
    maxRecordSize: 1 << 20,
    maxAuthFailures: 1000,
    padding: "none",
    ...config,
  });
}
