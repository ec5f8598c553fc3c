/**
 * Who gets a connection slot. The socket is 0666, so any local process can
 * connect; a global cap alone let one process holding idle connections lock
 * out everyone (issue 15 §3). Slots are therefore shared per peer (uid, and
 * pid when visible — see peer.ts), but only under pressure, so that one busy
 * legitimate process is not throttled while nobody else wants a slot:
 *
 * - below the pressure mark (3/4 of the table) any peer gets a slot, however
 *   many it holds;
 * - from the mark on, a peer below its own share gets a slot while the table
 *   has room;
 * - when the table is full, such a peer takes the slot of the oldest
 *   connection that has not yet sent its whole request, from the peer holding
 *   the most slots (only if that peer holds more than the newcomer would);
 * - otherwise the connection is answered, not reset: it is read and replied
 *   AESM_BUSY (Intel's client returns SGX_ERROR_BUSY), up to a second cap of
 *   such connections; only past that is it closed at once.
 */
export interface AdmissionLimits {
  /** Connections served normally, over all peers. */
  maxConnections: number;
  /** Connections served normally for one peer. */
  maxConnectionsPerPeer: number;
  /** Connections that will be answered AESM_BUSY, over all peers. */
  maxBusyConnections: number;
  /** Open slots from which the per-peer share applies. Default: pressureMark(maxConnections). */
  pressureConnections?: number;
}

/** 3/4 of the table: the quarter above it is kept for peers within their share. */
export function pressureMark(maxConnections: number): number {
  return Math.floor((maxConnections * 3) / 4);
}

export interface Slot {
  readonly peer: string;
  /** Set once the whole request frame has arrived: from then on the slot is never taken away. */
  complete: boolean;
  /** Set once any byte has arrived: silent connections are taken away first. */
  spoke: boolean;
  /** Closes the connection when its slot is given to someone else. */
  readonly evict: () => void;
}

export type Admission = { kind: 'slot'; slot: Slot } | { kind: 'busy'; release: () => void } | { kind: 'refuse' };

export class ConnectionTable {
  private readonly byPeer = new Map<string, Set<Slot>>();
  private slots = 0;
  private busy = 0;
  private readonly pressureAt: number;

  constructor(private readonly limits: AdmissionLimits) {
    this.pressureAt = Math.min(limits.pressureConnections ?? pressureMark(limits.maxConnections), limits.maxConnections);
  }

  get openSlots(): number {
    return this.slots;
  }
  get busyConnections(): number {
    return this.busy;
  }
  /** Peers holding at least one slot. */
  get peers(): number {
    return this.byPeer.size;
  }

  admit(peer: string, evict: () => void): Admission {
    const mine = this.byPeer.get(peer)?.size ?? 0;
    if (this.slots < this.pressureAt) return { kind: 'slot', slot: this.add(peer, evict) };
    if (mine < this.limits.maxConnectionsPerPeer) {
      if (this.slots < this.limits.maxConnections) return { kind: 'slot', slot: this.add(peer, evict) };
      const victim = this.victimFor(mine);
      if (victim) {
        this.release(victim);
        victim.evict();
        return { kind: 'slot', slot: this.add(peer, evict) };
      }
    }
    if (this.busy < this.limits.maxBusyConnections) {
      this.busy++;
      let released = false;
      return {
        kind: 'busy',
        release: () => {
          if (!released) {
            released = true;
            this.busy--;
          }
        },
      };
    }
    return { kind: 'refuse' };
  }

  /** Frees a slot (connection closed or evicted); safe to call twice. */
  release(slot: Slot): void {
    const set = this.byPeer.get(slot.peer);
    if (!set?.delete(slot)) return;
    this.slots--;
    if (set.size === 0) this.byPeer.delete(slot.peer);
  }

  private add(peer: string, evict: () => void): Slot {
    const slot: Slot = { peer, complete: false, spoke: false, evict };
    let set = this.byPeer.get(peer);
    if (!set) this.byPeer.set(peer, (set = new Set()));
    set.add(slot);
    this.slots++;
    return slot;
  }

  /** The oldest unfinished connection (silent ones first) of the peer holding the most slots, if it holds more than `mine + 1`. */
  private victimFor(mine: number): Slot | undefined {
    let largest: Set<Slot> | undefined;
    for (const set of this.byPeer.values()) if (!largest || set.size > largest.size) largest = set;
    if (!largest || largest.size <= mine + 1) return undefined;
    let partial: Slot | undefined;
    // A Set iterates in insertion order: the first match is the oldest.
    for (const s of largest) {
      if (s.complete) continue;
      if (!s.spoke) return s;
      partial ??= s;
    }
    return partial;
  }
}
