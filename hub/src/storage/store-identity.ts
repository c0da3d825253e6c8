/** `store.json` of the data directory: who the store is and which epoch its journal is in. */
export interface StoreIdentityFile {
  chainId: string;
  storeId: string;
  epoch: string;
  createdAt: string;
  /** Highest seq HQ has acknowledged (the MQTT link moves it). */
  deliveredSeq: number;
  /** Set by a restore: the epoch's first seq (the backup's last seq + 1); absent: 1. */
  epochStartSeq?: number;
  /** The restores this store went through, oldest first: the epoch and seq each backup held. */
  restoredFrom?: { epoch: string; seq: number; backupCreatedAt: string; restoredAt: string }[];
  /**
   * Each time the hub noticed it went back in time (the broker's retained status named a later seq
   * of its epoch: a data directory or SD card image of an earlier day put back), oldest first.
   */
  wentBackInTime?: WentBackInTime[];
}

export interface WentBackInTime {
  /** The epoch the hub was in, and the new one it started. */
  previousEpoch: string;
  epoch: string;
  /** The new epoch's first seq. */
  epochStartSeq: number;
  /** The seq the broker's retained status named for the previous epoch, and when it was published. */
  brokerSeq: number;
  brokerStatusAt: string | null;
  noticedAt: string;
}

/** `went_back_in_time` stays among the problems this long after it was noticed, then clears by itself. */
export const WENT_BACK_IN_TIME_SHOWN_MS = 24 * 3600 * 1000;
