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
}
