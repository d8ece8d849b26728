/**
 * What every source (`aws-cli.ts`, `cloudformation.ts`) produces: the
 * configuration as `portcullis.yaml` holds it, with the place each field
 * came from.
 */
import type { FieldPath } from '../document.js'
import type { ConfigIssue } from '../errors.js'
import type { OriginMap } from './located.js'

/** A comment the written configuration carries above a block: where the block came from. */
export interface ResourceComment {
  readonly path: FieldPath
  readonly text: string
}

/** A configuration assembled from source files. */
export interface Imported {
  /** The configuration, in `portcullis.yaml`'s shape (not yet validated). */
  readonly value: Record<string, unknown>
  /** Where each field came from. */
  readonly origins: OriginMap
  /** One per resource, for the written file. */
  readonly comments: readonly ResourceComment[]
  /** What the source could not say and how it was supplied (warnings, located in the source). */
  readonly notes: readonly ConfigIssue[]
}
