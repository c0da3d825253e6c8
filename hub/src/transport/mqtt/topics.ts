/**
 * The topics of one store under `ayi/v1/{chainId}/{storeId}/` (ARCHITECTURE.md, "Events and the
 * MQTT contract"): `events` (QoS 1, every journal event in seq order), `status` (retained, online
 * birth and offline last will), `cmd/{name}` from HQ and `cmd-result` for the answers. One topic is
 * the chain's: `ayi/v1/{chainId}/catalog`, HQ's catalog version (retained), read by every store.
 */
export const TOPIC_ROOT = 'ayi/v1';

export interface StoreTopics {
  root: string;
  /** The chain's catalog from HQ (retained). */
  catalog: string;
  events: string;
  status: string;
  /** Subscription filter for every command (`cmd/+`). */
  commands: string;
  commandResult: string;
  /** The command's name when `topic` is one of this store's command topics, else null. */
  commandName(topic: string): string | null;
}

export function storeTopics(chainId: string, storeId: string): StoreTopics {
  const root = `${TOPIC_ROOT}/${chainId}/${storeId}`;
  const cmdPrefix = `${root}/cmd/`;
  return {
    root,
    catalog: chainCatalogTopic(chainId),
    events: `${root}/events`,
    status: `${root}/status`,
    commands: `${cmdPrefix}+`,
    commandResult: `${root}/cmd-result`,
    commandName: (topic) => {
      if (!topic.startsWith(cmdPrefix)) return null;
      const name = topic.slice(cmdPrefix.length);
      return name.length > 0 && !name.includes('/') ? name : null;
    },
  };
}

/** HQ's catalog version for every store of the chain (retained, QoS 1). */
export function chainCatalogTopic(chainId: string): string {
  return `${TOPIC_ROOT}/${chainId}/catalog`;
}
