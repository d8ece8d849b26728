// oidc-provider ships its in-memory adapter without type declarations. Its
// per-provider factory keeps each provider's data apart (the default adapter
// shares one module-wide store and warns on every start).
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { AdapterFactory } from 'oidc-provider'

  /** A bounded (LRU, 1000 entries) in-memory store, one per call. */
  export function createMemoryAdapter(clockTolerance?: number): AdapterFactory
}
